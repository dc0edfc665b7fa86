# The test node of `tests/cluster/up --with-node`: a kubelet (built from the same k8s.io/kubernetes
# module and release as the control plane) with Debian's containerd and runc. Sourced by prereqs, up
# and down. See tests/README.md, "Could a node run here?".
#
# Nothing is pulled from a registry: the sandbox ("pause") image is a tiny static C program
# (node/pause.c) and the test image is Debian's busybox-static, both written as OCI archives by
# node/oci-image.py and imported with `ctr images import`.
#
# Pod network: Debian's CNI plugins (containernetworking-plugins), a bridge of this cluster's own
# (ork<hash of DIR>) with host-local addresses from 10.244.<n>.0/24, the bridge holding .1: pods
# reach each other and the host, the host (kubelet's probes, tests) reaches them. No masquerading,
# no kube-proxy: Service IPs lead nowhere, and nothing leaves the machine. hostNetwork pods work too.
# The bridge plugin turns on net.ipv4.ip_forward; down deletes the bridge and restores it.

NODE_NAME=orkestra-test-node
NODE_PAUSE_IMAGE=orkestra.test/pause:1
NODE_TEST_IMAGE=orkestra.test/busybox:1
NODE_LIB="$CLUSTER_SCRIPTS/lib/node"
# Files prereqs writes: the directory holding kubelet, and the one holding the image archives.
KUBELET_POINTER="$ORKESTRA_CACHE_DIR/kubernetes/kubelet-current"
NODE_IMAGES_POINTER="$ORKESTRA_CACHE_DIR/node-images/current"

# --- prereqs ---------------------------------------------------------------------------------------

# node_apt_needs: the system packages the node needs that are missing, one per line.
node_apt_needs() {
	{ command -v containerd && command -v ctr && command -v containerd-shim-runc-v2; } >/dev/null || echo containerd
	command -v runc >/dev/null || echo runc
	command -v gcc >/dev/null || echo gcc
	dpkg-query -W -f '${Status}' libc6-dev 2>/dev/null | grep -q 'ok installed' || echo libc6-dev # gcc -static
	command -v findmnt >/dev/null || echo util-linux
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
		echo containernetworking-plugins
	command -v ip >/dev/null || echo iproute2
}

# node_kubelet_dir RECIPE: where the kubelet of this recipe is cached (separate from the control
# plane's directory, so that building kubelet never invalidates kube-apiserver's cache).
node_kubelet_dir() { echo "$ORKESTRA_CACHE_DIR/kubernetes/$KUBERNETES_VERSION-$1-kubelet"; }
kubelet_usable() { "$1/kubelet" --version 2>/dev/null | grep -qx "Kubernetes $KUBERNETES_VERSION"; }

# node_build_kubelet RECIPE [--force]: builds kubelet with build-kubernetes.sh's recipe (same module
# copy, replaces, flags and version stamp), unless cached. Needs Go 1.26 on PATH.
node_build_kubelet() {
	local dir
	dir="$(node_kubelet_dir "$1")"
	if [[ "${2:-}" == --force ]] || ! kubelet_usable "$dir"; then
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		(KUBERNETES_BINARIES=(kubelet) && build_kubernetes "$dir.tmp") || exit 1
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
		kubelet_usable "$dir" || die "the kubelet built in $dir does not report Kubernetes $KUBERNETES_VERSION"
	fi
	echo "$dir" >"$KUBELET_POINTER"
}

# node_images_key: what the image archives are made from (sources, compiler, busybox .deb).
node_images_key() {
	{
		cat "$NODE_LIB/pause.c" "$NODE_LIB/oci-image.py"
		gcc --version | head -1
		apt-cache policy busybox-static 2>/dev/null | awk '/Candidate:/ {print $2}'
		echo "$NODE_PAUSE_IMAGE $NODE_TEST_IMAGE"
	} | sha256sum | cut -c1-12
}
node_images_usable() { [[ -f "$1/pause.tar" && -f "$1/busybox.tar" ]]; }

# node_build_images: the pause and busybox image archives, cached by node_images_key.
node_build_images() {
	local dir work c
	dir="$ORKESTRA_CACHE_DIR/node-images/$(node_images_key)"
	if ! node_images_usable "$dir"; then
		log "building the node's images ($NODE_PAUSE_IMAGE, $NODE_TEST_IMAGE)"
		work="$dir.tmp"
		rm -rf "$work" && mkdir -p "$work/dl" "$work/pause" "$work/busybox"
		# The static busybox from the machine's own apt sources, unpacked (not installed: the
		# busybox-static package would replace the system's busybox).
		(cd "$work/dl" && retry 4 apt-get download -q busybox-static >"$work/download.log" 2>&1) ||
			die "apt-get download busybox-static failed; see $work/download.log"
		dpkg-deb -x "$work"/dl/busybox-static_*.deb "$work/dl/root" || die "unpacking busybox-static failed"
		gcc -O2 -static -s -o "$work/pause/pause" "$NODE_LIB/pause.c" || die "compiling $NODE_LIB/pause.c failed"
		mkdir -p "$work/busybox/bin" "$work/busybox"/{dev,etc,proc,sys,tmp,var}
		cp "$work/dl/root/bin/busybox" "$work/busybox/bin/busybox"
		for c in $("$work/busybox/bin/busybox" --list); do
			[[ "$c" == busybox ]] || ln -s busybox "$work/busybox/bin/$c"
		done
		printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$work/busybox/etc/passwd"
		printf 'root:x:0:\nnobody:x:65534:\n' >"$work/busybox/etc/group"
		python3 "$NODE_LIB/oci-image.py" --rootfs "$work/pause" --name "$NODE_PAUSE_IMAGE" \
			--out "$work/pause.tar" --entrypoint '["/pause"]' || die "writing the pause image failed"
		python3 "$NODE_LIB/oci-image.py" --rootfs "$work/busybox" --name "$NODE_TEST_IMAGE" \
			--out "$work/busybox.tar" --cmd '["sh"]' || die "writing the busybox image failed"
		mkdir -p "$dir" && mv "$work/pause.tar" "$work/busybox.tar" "$dir/" && rm -rf "$work"
	fi
	echo "$dir" >"$NODE_IMAGES_POINTER"
}

# --- up --------------------------------------------------------------------------------------------

# node_ip: the address the kubelet registers and serves on. kubelet refuses a loopback node IP, so
# this is the machine's first global IPv4 address (the API server reaches the kubelet there).
node_ip() {
	ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}'
}

# node_pki PKI: the kubelet's client certificate (user system:node:NAME in system:nodes, which the
# Node authorizer serves) and the API server's client certificate for calls to the kubelet (logs,
# exec), in system:masters so that the kubelet's webhook authorization allows them.
node_pki() {
	local pki=$1
	[[ -f "$pki/kubelet.crt" ]] || client_cert "$pki" kubelet "system:node:$NODE_NAME" system:nodes
	[[ -f "$pki/apiserver-kubelet-client.crt" ]] ||
		client_cert "$pki" apiserver-kubelet-client orkestra-apiserver-kubelet-client system:masters
}

# node_apiserver_flags PKI: the flags kube-apiserver needs to talk to the kubelet.
node_apiserver_flags() {
	local pki=$1
	NODE_APISERVER_FLAGS=(--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt"
		--kubelet-client-key "$pki/apiserver-kubelet-client.key"
		--kubelet-preferred-address-types InternalIP)
}

# node_id DIR: 8 hex digits naming this cluster's bridge, pod subnet and cgroup root.
node_id() { printf %s "$1" | sha256sum | cut -c1-8; }

# node_start DIR PKI API_URL: containerd, the images, kubelet; waits until the Node is Ready.
# Uses up's start, fail_with_log, wait_for.
node_start() {
	local dir=$1 pki=$2 api=$3 node="$1/node" ip images kubelet_bin cgroup_root port healthz id
	ip="$(node_ip)"
	[[ -n "$ip" ]] || die "--with-node: this machine has no global IPv4 address for the kubelet (kubelet refuses a loopback node IP)"
	kubelet_bin="$(cat "$KUBELET_POINTER")/kubelet"
	images="$(cat "$NODE_IMAGES_POINTER")"
	id="$(node_id "$dir")"
	mkdir -p "$node"/{containerd,kubelet,pod-logs,cni/net.d,volume-plugins}

	# The pod network (see the top of this file). The subnet's third octet comes from the id, so
	# that two clusters' bridges on one machine do not claim the same routes (a 1-in-200 clash).
	NODE_POD_SUBNET="10.244.$((16#${id:0:4} % 200 + 20)).0/24"
	echo "ork$id" >"$node/bridge"
	[[ -f "$node/ip_forward.before" ]] || cat /proc/sys/net/ipv4/ip_forward >"$node/ip_forward.before"
	cat >"$node/cni/net.d/10-orkestra.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "orkestra-test",
  "plugins": [{
    "type": "bridge", "bridge": "ork$id", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NODE_POD_SUBNET"}]], "dataDir": "$node/cni/ipam"}
  }]
}
JSON

	# containerd: everything under DIR/node, its own socket, the CRI plugin with the local pause
	# image, overlayfs snapshots, runc (cgroupfs: no systemd runs here).
	# NB: restrict_oom_score_adj: this sandbox drops CAP_SYS_RESOURCE, so a negative oom_score_adj
	# (containerd gives every pod sandbox -998) fails in runc init with "failed to update
	# /proc/self/oom_score_adj: Permission denied" ("can't get final child's PID from pipe: EOF").
	# With it, containerd raises such values to its own oom_score_adj.
	# netns_mounts_under_state_dir: pods' network namespaces are pinned under DIR/node, where down
	# finds (and unmounts) them; their veth ends go with them.
	cat >"$node/containerd/config.toml" <<TOML
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
[grpc]
  address = "$node/containerd.sock"
[ttrpc]
  address = "$node/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$NODE_PAUSE_IMAGE"
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$node/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni/net.d"
TOML
	start containerd containerd --config "$node/containerd/config.toml"
	wait_for 30 "containerd on $node/containerd.sock" ctr -a "$node/containerd.sock" version ||
		fail_with_log containerd "containerd did not start"
	local image
	for image in pause busybox; do
		ctr -a "$node/containerd.sock" -n k8s.io images import "$images/$image.tar" >>"$LOGS/containerd.log" 2>&1 ||
			fail_with_log containerd "ctr images import $images/$image.tar failed"
	done
	log "containerd $(containerd --version | awk '{print $3}') with runc $(runc --version | awk 'NR==1 {print $3}'); images $NODE_PAUSE_IMAGE, $NODE_TEST_IMAGE"

	# kubelet. Its pods' cgroups go under a root of this cluster's own, so that two clusters'
	# kubelets on one machine do not remove each other's pod cgroups.
	cgroup_root="/orkestra-$id"
	echo "$cgroup_root" >"$node/cgroup-root"
	local hierarchy
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then # cgroup v2 only
		mkdir -p "/sys/fs/cgroup$cgroup_root"
	else # v1, or hybrid as here: one directory per v1 hierarchy
		for hierarchy in /sys/fs/cgroup/*/; do
			[[ "$hierarchy" == */unified/ ]] || mkdir -p "$hierarchy${cgroup_root#/}"
		done
	fi
	port="$(free_port)" healthz="$(free_port)"
	write_kubeconfig "$node/kubelet.kubeconfig" "$api" "$pki" kubelet
	cat >"$node/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 here (see tests/README.md): kubelet 1.35+ refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
cgroupsPerQOS: true
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://$node/containerd.sock
address: $ip
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
podLogsDir: $node/pod-logs
volumePluginDir: $node/volume-plugins
staticPodPath: ""
# A test machine's disk may be nearly full: never evict, never collect images.
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
maxPods: 30
serializeImagePulls: false
clusterDomain: cluster.local
YAML
	start kubelet "$kubelet_bin" --config "$node/kubelet-config.yaml" \
		--kubeconfig "$node/kubelet.kubeconfig" --root-dir "$node/kubelet" --cert-dir "$node/kubelet/pki" \
		--hostname-override "$NODE_NAME" --node-ip "$ip" --v 2
	wait_for 60 "kubelet's /healthz" curl -fsS "http://127.0.0.1:$healthz/healthz" ||
		fail_with_log kubelet "kubelet did not become healthy"
	wait_for 60 "Node $NODE_NAME" kubectl get node "$NODE_NAME" ||
		fail_with_log kubelet "kubelet did not register Node $NODE_NAME"
	wait_for 60 "Node $NODE_NAME to be Ready" kubectl wait --for condition=Ready --timeout 5s node "$NODE_NAME" ||
		fail_with_log kubelet "Node $NODE_NAME did not become Ready"
	log "kubelet $KUBERNETES_VERSION: Node $NODE_NAME Ready at $ip:$port; pod network $NODE_POD_SUBNET on bridge ork$id"
}

# --- down ------------------------------------------------------------------------------------------

# node_remove_containers DIR: kills and deletes every container of DIR's containerd (before
# containerd stops: its shims and pods would otherwise outlive it).
node_remove_containers() {
	local sock="$1/node/containerd.sock" id
	[[ -S "$sock" ]] || return 0
	timeout 5 ctr -a "$sock" version >/dev/null 2>&1 || return 0
	for id in $(timeout 10 ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
		timeout 10 ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $(timeout 10 ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
		timeout 10 ctr -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $(timeout 10 ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
		timeout 10 ctr -a "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
	done
}

# node_cleanup DIR: after containerd and kubelet stopped: unmounts what they mounted under DIR
# (container root file systems, sandbox /dev/shm, pod volumes, pinned network namespaces), deletes
# the bridge and the address reservations (its pods are gone), restores net.ipv4.ip_forward,
# removes the cluster's cgroups and kubelet's /var/log/containers links into DIR.
node_cleanup() {
	local dir=$1 m cg link bridge
	[[ -d "$dir/node" ]] || return 0
	findmnt -rn -o TARGET 2>/dev/null | awk -v p="$dir/node/" 'index($0, p) == 1' | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	if [[ -f "$dir/node/bridge" ]]; then
		bridge="$(cat "$dir/node/bridge")"
		[[ "$bridge" =~ ^ork[0-9a-f]{8}$ ]] && ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
		rm -f "$dir/node/bridge"
	fi
	rm -rf "$dir/node/cni/ipam"
	# Back to 0 only when it was 0 and no other cluster's bridge remains.
	if [[ "$(cat "$dir/node/ip_forward.before" 2>/dev/null)" == 0 ]] &&
		! ip -o link show type bridge 2>/dev/null | grep -qE '^[0-9]+: ork[0-9a-f]{8}[:@]'; then
		echo 0 >/proc/sys/net/ipv4/ip_forward
	fi
	rm -f "$dir/node/ip_forward.before"
	if [[ -f "$dir/node/cgroup-root" ]]; then
		cg="$(cat "$dir/node/cgroup-root")"
		[[ "$cg" =~ ^/orkestra-[0-9a-f]{8}$ ]] &&
			find /sys/fs/cgroup"$cg" /sys/fs/cgroup/*"$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
	fi
	for link in /var/log/containers/*.log; do
		[[ -L "$link" && "$(readlink "$link")" == "$dir/node/"* ]] && rm -f "$link"
	done
	return 0
}
