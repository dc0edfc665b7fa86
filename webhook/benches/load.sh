#!/usr/bin/env bash
# Load run: orkestra-webhook against two ceilings (benches/ceiling.rs) on the same axum + rustls stack,
# same machine, same load: `ceiling` answers without reading the body, `ceiling-reading` first walks
# all of its JSON (the least a webhook that reads the review can do). Same load for all: TLS keep-alive, $CONNECTIONS connections, AdmissionReviews of an $APPS-application group.
# Prints requests/s, p99 latency, the server's CPU time per request and peak resident memory (VmHWM)
# of each, and the ratio.
#
#   webhook/benches/load.sh                 # defaults: 64 connections, 50 apps, 20s per run, 2 rounds
#   DURATION=30s ROUNDS=3 webhook/benches/load.sh
#   CEILING=target/release/deps/ceiling-<hash> webhook/benches/load.sh   # skip the build
#
# Needs: cargo, openssl, jq, and oha (`cargo install oha`). Ports 18443, 18080, 18444 on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
APPS=${APPS:-50}
ROUNDS=${ROUNDS:-2}
WEBHOOK_PORT=18443 ADMIN_PORT=18080 CEILING_PORT=18444

command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 2; }

WEBHOOK=${CARGO_TARGET_DIR:-target}/release/orkestra-webhook
if [[ -n ${CEILING:-} ]]; then
  echo "== using the built $WEBHOOK and CEILING=$CEILING" >&2
else
  echo "== building release binaries" >&2
  cargo build --release -q -p orkestra-webhook --bin orkestra-webhook
  CEILING=$(cargo build --release -q -p orkestra-webhook --bench ceiling --message-format=json \
    | jq -r 'select(.reason == "compiler-artifact" and .target.name == "ceiling") | .executable')
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== certificates and request body in $WORK" >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
# A valid, already defaulted group (what the validating webhook sees after the mutating one): a chain of
# dependencies, a chart, release settings and a few values per application.
jq -cn --argjson n "$APPS" '{
  apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
  request: {
    uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
    kind: {group: "orkestra.azure.microsoft.com", version: "v1alpha1", kind: "ApplicationGroup"},
    resource: {group: "orkestra.azure.microsoft.com", version: "v1alpha1", resource: "applicationgroups"},
    name: "load", operation: "CREATE", userInfo: {username: "admin", groups: ["system:masters"]},
    dryRun: false, oldObject: null,
    object: {
      apiVersion: "orkestra.azure.microsoft.com/v1alpha1", kind: "ApplicationGroup",
      metadata: {name: "load"},
      spec: {applications: [range(0; $n) as $i | {
        name: "app-\($i)",
        dependencies: (if $i == 0 then [] else ["app-\($i - 1)"] end),
        spec: {
          chart: {url: "https://charts.example.com/stable", name: "app-\($i)", version: "1.\($i).0"},
          release: {targetNamespace: "ns-\($i)", timeout: "5m", interval: "5m",
                    values: {replicaCount: 2, image: {repository: "example/app-\($i)", tag: "1.2.3"}}},
          workflow: [{name: "helmrelease", type: "helmrelease", dependencies: []}]
        }
      }]}
    }
  }
}' > "$WORK/review.json"
# The same body as a DELETE: the webhook reads the whole review but runs no rule. Its rate is the
# transport + JSON reading share of the webhook's cost.
jq -c '.request.operation = "DELETE"' "$WORK/review.json" > "$WORK/delete.json"
echo "   body: $(wc -c < "$WORK/review.json") bytes, $APPS applications" >&2

# mimalloc: commit arenas lazily. Peak resident memory under this load: 18 MB with it, 28 MB without;
# returning freed memory at once as well (MIMALLOC_PURGE_DELAY=0) gives 15 MB but costs 12 % of the
# throughput. The chart should set it.
MIMALLOC_ARENA_EAGER_COMMIT=0 \
"$WEBHOOK" serve --listen 127.0.0.1:$WEBHOOK_PORT --admin-listen 127.0.0.1:$ADMIN_PORT --check-secret-access=false \
  --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" --log-format json 2>"$WORK/webhook.log" &
PIDS+=($!); WEBHOOK_PID=$!
"$CEILING" --listen 127.0.0.1:$CEILING_PORT --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" &
PIDS+=($!); CEILING_PID=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$ADMIN_PORT/readyz >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$ADMIN_PORT/readyz >/dev/null || { cat "$WORK/webhook.log" >&2; exit 1; }

# The answer must be the real one: allowed, for the request's uid.
curl -sk --data-binary @"$WORK/review.json" -H 'content-type: application/json' \
  https://127.0.0.1:$WEBHOOK_PORT/validate | jq -e '.response.allowed == true' >/dev/null \
  || { echo "the webhook does not allow the load body" >&2; exit 1; }

load() { # url duration [body] -> oha JSON
  oha --no-tui --insecure --output-format json -w -z "$2" -c "$CONNECTIONS" -m POST \
    -T application/json -D "${3:-$WORK/review.json}" "$1"
}
figures() { # oha JSON -> "rps p99_ms errors requests"
  jq -r '[.summary.requestsPerSec, (.latencyPercentiles.p99 * 1000),
          ([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0)
          + ([.errorDistribution | to_entries[] | .value] | add // 0),
          ([.statusCodeDistribution[]] | add // 0)] | @tsv'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system time of a process
TICKS_PER_S=$(getconf CLK_TCK)

echo "== warm-up" >&2
load https://127.0.0.1:$CEILING_PORT/bare 3s >/dev/null
load https://127.0.0.1:$WEBHOOK_PORT/validate 3s >/dev/null

printf '%-6s %-22s %12s %10s %8s %14s\n' round target "requests/s" "p99 ms" errors "server CPU/req"
declare -A SUM=() P99=()
for round in $(seq "$ROUNDS"); do
  for target in ceiling ceiling-reading webhook-validate webhook-mutate webhook-delete; do
    body=$WORK/review.json
    case $target in
      ceiling) url=https://127.0.0.1:$CEILING_PORT/bare pid=$CEILING_PID ;;
      ceiling-reading) url=https://127.0.0.1:$CEILING_PORT/reading pid=$CEILING_PID ;;
      webhook-validate) url=https://127.0.0.1:$WEBHOOK_PORT/validate pid=$WEBHOOK_PID ;;
      webhook-mutate) url=https://127.0.0.1:$WEBHOOK_PORT/mutate pid=$WEBHOOK_PID ;;
      webhook-delete) url=https://127.0.0.1:$WEBHOOK_PORT/validate body=$WORK/delete.json pid=$WEBHOOK_PID ;;
    esac
    before=$(cpu_ticks "$pid")
    read -r rps p99 errors requests < <(load "$url" "$DURATION" "$body" | figures)
    cpu_us=$(echo "($(cpu_ticks "$pid") - $before) * 1000000 / $TICKS_PER_S / $requests" | bc -l)
    printf '%-6s %-22s %12.0f %10.2f %8d %11.1f µs\n' "$round" "$target" "$rps" "$p99" "$errors" "$cpu_us"
    SUM[$target]=$(echo "${SUM[$target]:-0} + $rps" | bc -l)
    P99[$target]=$(echo "${P99[$target]:-0} + $p99" | bc -l)
  done
done
ratio=$(echo "100 * ${SUM[webhook-validate]} / ${SUM[ceiling]}" | bc -l)
printf 'validate throughput / ceiling: %.1f %%\n' "$ratio"
reading=$(echo "100 * ${SUM[webhook-validate]} / ${SUM[ceiling-reading]}" | bc -l)
printf 'validate throughput / reading ceiling: %.1f %% (target >= 70 %%)\n' "$reading"
printf 'validate p99 / reading ceiling p99: %.2f x (target <= 1.5 x)\n' \
  "$(echo "${P99[webhook-validate]} / ${P99[ceiling-reading]}" | bc -l)"
printf 'delete (read only, no rules) / ceiling: %.1f %%\n' "$(echo "100 * ${SUM[webhook-delete]} / ${SUM[ceiling]}" | bc -l)"
echo "peak resident memory (VmHWM): webhook $(awk '/VmHWM/ {print $2, $3}' /proc/$WEBHOOK_PID/status)," \
  "ceiling $(awk '/VmHWM/ {print $2, $3}' /proc/$CEILING_PID/status)"
echo "reviews counted by the webhook:"
curl -s http://127.0.0.1:$ADMIN_PORT/metrics | grep '^orkestra_webhook_reviews_total'
