# Real Argo Workflows for `tests/cluster/up --with-argo` (needs --with-node): Argo's
# workflow-controller (built by `prereqs --with-engines`, lib/build-engines.sh) runs out of cluster
# as the admin user and runs every Workflow's steps as pods on the test node, with Argo's own
# executor (argoexec, the pods' init and wait containers). Sourced by up, which defines start,
# fail_with_log and LOGS.
#
# What the test node needs from Argo's configuration (ConfigMap argo/workflow-controller-configmap):
# - no scheduler runs, so every workflow pod names the node (`workflowDefaults.spec.podSpecPatch`:
#   nodeName), and no Service is routed, so pods use the host's network (hostNetwork) and reach the
#   API server on 127.0.0.1 (KUBERNETES_SERVICE_HOST/PORT of the executor's and the main
#   containers), whose serving certificate names 127.0.0.1;
# - nothing can be pulled: imagePullPolicy Never. Images: argoexec (built with the engines) and
#   the executor image, made here from the workspace's orkestra-controller binary
#   ($ARGO_EXECUTOR_IMAGE; the tests pass it to `orkestra-controller run --executor-image`);
# - metrics off (its server would take port 9090).

source "$CLUSTER_SCRIPTS/lib/build-engines.sh" # ARGO_VERSION, ARGOEXEC_IMAGE
# The executor image the workflow pods run: the workspace's orkestra-controller binary.
ARGO_EXECUTOR_IMAGE=orkestra.test/orkestra-controller:dev

# argo_start DIR API_PORT TARGET_DIR: installs Argo's CRDs and configuration, imports the images
# into the node's containerd and starts the workflow-controller.
argo_start() {
	local dir=$1 api_port=$2 target_dir=$3 engines crds=() f binary image_root
	[[ -f "$ENGINES_POINTER" ]] || die "no engines: run tests/cluster/prereqs --with-engines"
	engines="$(cat "$ENGINES_POINTER")"
	# The Workflow CRD stays the full-schema one of tests/fixtures/crds; the others are Argo's own.
	for f in "$engines"/argo-crds/argoproj.io_*.yaml; do
		[[ "$f" == *_workflows.yaml ]] || crds+=("$f")
	done
	kubectl apply --server-side --force-conflicts --field-manager=orkestra-test-cluster \
		$(printf -- '-f %s ' "${crds[@]}") >"$LOGS/argo-crds.log" 2>&1 ||
		fail_with_log argo-crds "installing Argo's CRDs failed"
	wait_for 45 "Argo's CRDs to be established" kubectl wait --for condition=established --timeout=5s crd --all ||
		fail_with_log argo-crds "Argo's CRDs did not become established"
	kubectl create namespace argo >/dev/null 2>&1 || kubectl get namespace argo >/dev/null ||
		die "creating namespace argo failed"
	local env="[{name: KUBERNETES_SERVICE_HOST, value: \"127.0.0.1\"}, {name: KUBERNETES_SERVICE_PORT, value: \"$api_port\"}]"
	kubectl apply -f - >"$LOGS/argo-config.log" 2>&1 <<YAML || fail_with_log argo-config "writing Argo's configuration failed"
apiVersion: v1
kind: ConfigMap
metadata: {name: workflow-controller-configmap, namespace: argo}
data:
  executor: |
    imagePullPolicy: Never
    env: $env
  mainContainer: |
    imagePullPolicy: Never
    env: $env
  workflowDefaults: |
    spec:
      podSpecPatch: '{"hostNetwork": true, "nodeName": "$NODE_NAME"}'
  metricsConfig: |
    enabled: false
YAML

	binary="$target_dir/debug/orkestra-controller"
	# As for serve-charts: ORKESTRA_TESTS_PREBUILT=1 (tests/run) uses the binary as it is.
	if [[ "${ORKESTRA_TESTS_PREBUILT:-}" != 1 || ! -x "$binary" ]]; then
		(cd "$REPO_ROOT" && cargo build -q -p orkestra-controller --bin orkestra-controller) >"$LOGS/executor-build.log" 2>&1 ||
			fail_with_log executor-build "cargo build -p orkestra-controller failed"
	fi
	image_root="$dir/argo/executor-root"
	rm -rf "$image_root" && mkdir -p "$image_root/usr/local/bin" "$image_root/tmp"
	cp "$binary" "$image_root/usr/local/bin/orkestra-controller"
	# Its shared libraries, at the paths the binary asks for (the image has nothing else).
	for f in $(ldd "$binary" | grep -o '/[^ ]*'); do
		mkdir -p "$image_root$(dirname "$f")" && cp -L "$f" "$image_root$f"
	done
	python3 "$NODE_LIB/oci-image.py" --rootfs "$image_root" --name "$ARGO_EXECUTOR_IMAGE" \
		--out "$dir/argo/executor.tar" --entrypoint '["/usr/local/bin/orkestra-controller"]' ||
		die "writing the executor image failed"
	for image in "$engines/argoexec.tar" "$dir/argo/executor.tar"; do
		ctr -a "$dir/node/containerd.sock" -n k8s.io images import "$image" >>"$LOGS/containerd.log" 2>&1 ||
			fail_with_log containerd "ctr images import $image failed"
	done
	rm -rf "$image_root" "$dir/argo/executor.tar"

	start workflow-controller env LEADER_ELECTION_DISABLE=true "$engines/workflow-controller" \
		--kubeconfig "$KUBECONFIG" --namespace argo --configmap workflow-controller-configmap \
		--executor-image "$ARGOEXEC_IMAGE" --executor-image-pull-policy Never
	wait_for 60 "the workflow-controller's health" curl -fsS "http://127.0.0.1:6060/healthz" ||
		fail_with_log workflow-controller "the workflow-controller did not become healthy"
	log "Argo: workflow-controller $ARGO_VERSION, pods on $NODE_NAME with $ARGOEXEC_IMAGE and $ARGO_EXECUTOR_IMAGE"
}
