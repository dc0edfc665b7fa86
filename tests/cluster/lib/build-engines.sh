# Builds the engines Orkestra drives, from their Go modules: Flux's source-controller and
# helm-controller, ChartMuseum, and Argo's CLI (for `argo lint --offline`). Sourced by
# engines-prereqs; the text of this file is part of the cache key, so a change of recipe rebuilds.
#
# None of them can be `go install`ed:
# - source-controller and helm-controller replace `…/api => ./api`, a nested module that the module
#   zip leaves out: the replace is dropped, so the published `api` module of the same tag is used;
#   source-controller v1.9.6 asks for github.com/fluxcd/pkg/artifact v0.18.3, which the proxy does
#   not serve: the newest served patch release of that minor, v0.18.1, stands in;
# - ChartMuseum's go.mod names `helm.sh/chartmuseum`, served as github.com/helm/chartmuseum;
# - Argo's CLI embeds `ui/dist/app`, which the zip leaves out: a placeholder page stands in, as
#   Argo's own Makefile writes one when the UI is not built (the CLI's lint never serves it);
# - Argo's `workflow/executor/osspecific/signal_linux.go` is a symlink to signal_darwin.go in the
#   repository, and module zips drop symlinks: the same symlink is made again before argoexec is
#   built (the workflow-controller needs nothing).
# argoexec (Argo's executor, the init and wait containers of every workflow pod) is also written as
# a local image archive, orkestra.test/argoexec:<tag>, for the test node (no registry to pull from).
# So: download each module, copy it somewhere writable, mend it, and build with GOWORK=off.

FLUX_SOURCE_VERSION=v1.9.6 # source-controller; its api module of the same tag
FLUX_HELM_VERSION=v1.6.4   # helm-controller (wants source-controller/api v1.9); its api module of the same tag
CHARTMUSEUM_VERSION=v0.16.3
ARGO_VERSION=v3.7.3
ENGINE_BINARIES=(source-controller helm-controller chartmuseum argo workflow-controller argoexec)
ARGOEXEC_IMAGE="orkestra.test/argoexec:$ARGO_VERSION"
GOMODCACHE_DIR="$(go env GOMODCACHE)"

# engine_module_copy MODULE@VERSION WORK: the module's source, writable, at WORK.
engine_module_copy() {
	local module=$1 work=$2 src
	src="$(cd /tmp && GOFLAGS= go mod download -json "$module" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" ||
		die "go mod download $module failed"
	rm -rf "$work" && mkdir -p "$(dirname "$work")"
	cp -r "$src" "$work" && chmod -R u+w "$work"
	rm -rf "$work/go.work" "$work/go.work.sum" "$work/vendor"
}

# engine_build NAME MODULE@VERSION PACKAGE OUT [LDFLAGS] [MEND]: builds PACKAGE of the module into
# OUT/NAME, after running the shell function MEND (if given) in the module's copy.
engine_build() {
	local name=$1 module=$2 package=$3 out=$4 ldflags=${5:-} mend=${6:-} work started logfile
	work="$ORKESTRA_CACHE_DIR/engines-build/$name"
	logfile="$ORKESTRA_CACHE_DIR/engines-build/$name.log"
	started=$SECONDS
	log "building $name from $module (a cold build takes a few minutes on 2 cores)"
	engine_module_copy "$module" "$work"
	(
		cd "$work"
		[[ -z "$mend" ]] || "$mend"
		export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
		# NB: no `go mod download` of the whole graph: test-only modules (helmtestserver) may be
		# unserved, and the build fetches what it compiles.
		go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name" "$package" >"$logfile" 2>&1
	) || {
		tail -30 "$logfile" >&2
		die "building $name failed; full log: $logfile"
	}
	rm -rf "$work"
	log "built $name in $((SECONDS - started)) s"
}

drop_api_replace() {
	sed -i -E '/^replace github\.com\/fluxcd\/[a-z-]+\/api => \.\/api$/d' go.mod
	! grep -q '=> \./api' go.mod || die "go.mod still replaces the api module with ./api"
}
source_controller_mend() {
	drop_api_replace
	go mod edit -replace github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.1
}
argo_ui_placeholder() {
	mkdir -p ui/dist/app
	echo 'Built without the UI' >ui/dist/app/index.html
}
argo_signal_linux() {
	ln -s signal_darwin.go workflow/executor/osspecific/signal_linux.go
}

# build_engines OUT_DIR: writes OUT_DIR/{source-controller,helm-controller,chartmuseum,argo,
# workflow-controller,argoexec}, Flux's CRDs, Argo's CRDs (OUT_DIR/argo-crds) and argoexec.tar.
build_engines() {
	local out=$1
	engine_build source-controller "github.com/fluxcd/source-controller@$FLUX_SOURCE_VERSION" . "$out" "" source_controller_mend
	engine_build helm-controller "github.com/fluxcd/helm-controller@$FLUX_HELM_VERSION" . "$out" "" drop_api_replace
	engine_build chartmuseum "github.com/helm/chartmuseum@$CHARTMUSEUM_VERSION" ./cmd/chartmuseum "$out" \
		"-X main.Version=$CHARTMUSEUM_VERSION"
	engine_build argo "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" ./cmd/argo "$out" \
		"-X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION" argo_ui_placeholder
	engine_build workflow-controller "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" ./cmd/workflow-controller "$out" \
		"-X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION"
	engine_build argoexec "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" ./cmd/argoexec "$out" \
		"-X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION" argo_signal_linux
	mkdir -p "$out/argo-crds" "$out/argoexec-root/bin"
	cp "$GOMODCACHE_DIR/github.com/argoproj/argo-workflows/v3@$ARGO_VERSION/manifests/base/crds/minimal/"argoproj.io_*.yaml "$out/argo-crds/"
	cp "$out/argoexec" "$out/argoexec-root/bin/argoexec"
	python3 "$CLUSTER_SCRIPTS/lib/node/oci-image.py" --rootfs "$out/argoexec-root" --name "$ARGOEXEC_IMAGE" \
		--out "$out/argoexec.tar" --entrypoint '["/bin/argoexec"]' || die "writing the argoexec image failed"
	rm -rf "$out/argoexec-root"
	# Flux's CRDs of the same tags, for the API server the controllers watch.
	cp "$GOMODCACHE_DIR/github.com/fluxcd/source-controller@$FLUX_SOURCE_VERSION/config/crd/bases/"*.yaml "$out/"
	cp "$GOMODCACHE_DIR/github.com/fluxcd/helm-controller@$FLUX_HELM_VERSION/config/crd/bases/"*.yaml "$out/"
	chmod u+w "$out"/*.yaml "$out"/argo-crds/*.yaml
}
