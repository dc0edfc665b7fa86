#!/usr/bin/env bash
# Load run of the reconciler (BENCHMARKS.md "Controller"): N ApplicationGroups of M applications
# created at once against the local cluster (tests/cluster, started on first use); prints p50/p99
# of create -> forward Workflow created and the controller's peak RSS (VmHWM).
#
#   controller/benches/reconcile_load.sh [GROUPS [APPS [CONCURRENCY]]]     (default 100 10 32)
#
# Release build (as deployed). Charts come from the cluster's fixture chart repository and are
# staged into its OCI registry; the controller caches archives (--chart-cache) as in production.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ORKESTRA_LOAD_GROUPS="${1:-100}" ORKESTRA_LOAD_APPS="${2:-10}" ORKESTRA_LOAD_CONCURRENCY="${3:-32}"
exec cargo nextest run --release -p orkestra-controller --test reconcile_load --run-ignored only --no-capture
