# Builds kube-apiserver and kube-controller-manager from the k8s.io/kubernetes Go module. Sourced by
# prereqs; the text of this file is part of the cache key, so a change of recipe rebuilds.
#
# `go install k8s.io/kubernetes/cmd/...@vX` is refused: the module's go.mod replaces every k8s.io/*
# staging module with ./staging/src/k8s.io/<name>, which the module zip leaves out. So: download the
# module, copy it somewhere writable, point each staging replace at the published
# k8s.io/<name> v0.<minor>.<patch> of the same release, and build with GOWORK=off. The version is
# stamped as the release scripts do (Helm's kubeVersion checks and `kubectl version` read it).

KUBERNETES_VERSION=v1.36.3 # one pinned release; its staging modules are v0.36.3
KUBERNETES_BINARIES=(kube-apiserver kube-controller-manager)

# build_kubernetes OUT_DIR: writes OUT_DIR/kube-apiserver and OUT_DIR/kube-controller-manager.
build_kubernetes() {
	local out=$1 staging_version work src minor started
	staging_version="v0.${KUBERNETES_VERSION#v1.}"
	minor="${KUBERNETES_VERSION#v1.}"
	minor="${minor%%.*}"
	work="$ORKESTRA_CACHE_DIR/kubernetes-build"
	started=$SECONDS
	log "downloading k8s.io/kubernetes@$KUBERNETES_VERSION from the Go module proxy"
	src="$(cd /tmp && GOFLAGS= go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" ||
		die "go mod download k8s.io/kubernetes@$KUBERNETES_VERSION failed"
	rm -rf "$work" && mkdir -p "$(dirname "$work")"
	cp -r "$src" "$work" && chmod -R u+w "$work"
	(
		cd "$work"
		# The module zip has no staging/ tree: go.work and vendor/ would point into it.
		rm -rf go.work go.work.sum vendor
		# NB: sample-cli-plugin is replaced but never required, and is not published: drop it.
		sed -i -E \
			-e '/^\tk8s\.io\/sample-cli-plugin => /d' \
			-e "s#^\t(k8s\.io/[a-z-]+) => \./staging/src/k8s\.io/[a-z-]+\$#\t\1 => \1 $staging_version#" go.mod
		! grep -q '=> \./staging' go.mod || die "go.mod still replaces a module with ./staging after rewriting"
		log "building ${KUBERNETES_BINARIES[*]} $KUBERNETES_VERSION (a cold build takes about 4 minutes on 2 cores)"
		export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
		go mod download >"$ORKESTRA_CACHE_DIR/kubernetes-build.log" 2>&1
		go build -trimpath -o "$out/" \
			-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
			$(printf './cmd/%s ' "${KUBERNETES_BINARIES[@]}") >>"$ORKESTRA_CACHE_DIR/kubernetes-build.log" 2>&1
	) || {
		tail -30 "$ORKESTRA_CACHE_DIR/kubernetes-build.log" >&2
		die "building Kubernetes $KUBERNETES_VERSION failed; full log: $ORKESTRA_CACHE_DIR/kubernetes-build.log"
	}
	rm -rf "$work" # ~400 MB of sources; the module and build caches stay for a rebuild
	log "built ${KUBERNETES_BINARIES[*]} $KUBERNETES_VERSION in $((SECONDS - started)) s (cold build)"
}
