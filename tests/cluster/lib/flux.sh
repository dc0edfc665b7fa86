# Real Flux for `tests/cluster/up --with-flux`: source-controller and helm-controller (built by
# `prereqs --with-engines`, lib/build-engines.sh) run out of cluster as the admin user, watching
# every namespace, with their CRDs of the same tags. Sourced by up, which defines start and
# fail_with_log.
#
# source-controller keeps its artifacts under DIR/flux/storage and serves them on 127.0.0.1 (its
# advertised address is the same, so helm-controller fetches the charts it stages from there).
# No leader election and no event recorder address: one replica per cluster, events stay in the
# API server (Flux records Kubernetes Events there itself).

# flux_start DIR: installs Flux's CRDs and starts both controllers; waits until each is ready.
flux_start() {
	local dir=$1 engines storage_port crds
	[[ -f "$ENGINES_POINTER" ]] || die "no engines: run tests/cluster/prereqs --with-engines"
	engines="$(cat "$ENGINES_POINTER")"
	crds=("$engines"/*.toolkit.fluxcd.io_*.yaml)
	kubectl apply --server-side --force-conflicts --field-manager=orkestra-test-cluster \
		$(printf -- '-f %s ' "${crds[@]}") >"$LOGS/flux-crds.log" 2>&1 ||
		fail_with_log flux-crds "installing Flux's CRDs failed"
	wait_for 45 "Flux's CRDs to be established" kubectl wait --for condition=established --timeout=5s crd --all ||
		fail_with_log flux-crds "Flux's CRDs did not become established"
	kubectl create namespace flux-system >/dev/null 2>&1 || kubectl get namespace flux-system >/dev/null ||
		die "creating namespace flux-system failed"

	storage_port="$(free_port)"
	mkdir -p "$dir/flux/storage"
	flux_controller source-controller "$engines" \
		--storage-path "$dir/flux/storage" \
		--storage-addr "127.0.0.1:$storage_port" --storage-adv-addr "127.0.0.1:$storage_port"
	flux_controller helm-controller "$engines"
	log "Flux: source-controller (artifacts on http://127.0.0.1:$storage_port) and helm-controller, from $engines"
}

# flux_controller NAME ENGINES [FLAGS...]: starts one controller with free metrics and health ports.
flux_controller() {
	local name=$1 engines=$2 health_port
	shift 2
	health_port="$(free_port)"
	start "$name" env KUBECONFIG="$KUBECONFIG" RUNTIME_NAMESPACE=flux-system "$engines/$name" \
		--watch-all-namespaces --enable-leader-election=false --log-level=debug \
		--metrics-addr "127.0.0.1:$(free_port)" --health-addr "127.0.0.1:$health_port" "$@"
	wait_for 60 "$name's /readyz" curl -fsS "http://127.0.0.1:$health_port/readyz" ||
		fail_with_log "$name" "$name did not become ready"
}
