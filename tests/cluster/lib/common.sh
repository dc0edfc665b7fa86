# Shared helpers for tests/cluster scripts. Sourced, not executed.

ORKESTRA_CACHE_DIR="${ORKESTRA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orkestra}"
CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SCRIPTS/../.." && pwd)"
# The file prereqs writes: the directory holding kube-apiserver and kube-controller-manager.
KUBERNETES_POINTER="$ORKESTRA_CACHE_DIR/kubernetes/current"
# The same for etcd.
ETCD_POINTER="$ORKESTRA_CACHE_DIR/etcd/current"
# The same for the engines (prereqs --with-engines): Flux, ChartMuseum, Argo's CLI, Flux's CRDs.
ENGINES_POINTER="$ORKESTRA_CACHE_DIR/engines/current"

log() { printf '%s %s\n' "[$(date -u +%H:%M:%S)] $(basename "$0"):" "$*" >&2; }
die() { printf '%s ERROR: %s\n' "$(basename "$0"):" "$*" >&2; exit 1; }

# retry N CMD...: run CMD up to N times with a growing pause; for flaky network operations.
retry() {
	local attempts=$1 i
	shift
	for ((i = 1; i <= attempts; i++)); do
		if "$@"; then return 0; fi
		if ((i < attempts)); then
			log "attempt $i/$attempts failed: $*; retrying in $((i * 5))s"
			sleep $((i * 5))
		fi
	done
	return 1
}

# free_port: an unused TCP port on 127.0.0.1 (the kernel picks it; there is a small race).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2s until it succeeds or time runs out.
wait_for() {
	local seconds=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${seconds}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}
