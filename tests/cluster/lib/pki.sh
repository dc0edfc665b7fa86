# The control plane's PKI, made with openssl (test tooling only; the product uses rustls). Sourced by up.
# One CA signs the API server's serving certificate and every client certificate; a separate key pair
# signs service-account tokens. Generated once per cluster directory and reused on restart.

# sign PKI NAME SUBJECT EXTENSION...: NAME.key and NAME.crt signed by the CA, with the given
# X.509 v3 extensions (rustls only takes v3 certificates; extensions make openssl write v3).
sign() {
	local pki=$1 name=$2 subj=$3
	shift 3
	openssl ecparam -genkey -name prime256v1 -noout -out "$pki/$name.key" 2>/dev/null
	openssl req -new -key "$pki/$name.key" -subj "$subj" 2>/dev/null |
		openssl x509 -req -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
			-extfile <(printf '%s\n' "$@") -out "$pki/$name.crt" 2>/dev/null
}

# client_cert PKI NAME CN [ORG]: a client certificate for user CN in group ORG.
client_cert() {
	local pki=$1 name=$2 cn=$3 org=${4:-} subj
	subj="/CN=$cn"
	[[ -z "$org" ]] || subj="/O=$org$subj"
	sign "$pki" "$name" "$subj" 'keyUsage=critical,digitalSignature' 'extendedKeyUsage=clientAuth'
}

# ensure_pki PKI: ca, apiserver (serving), admin (system:masters), controller-manager
# (system:kube-controller-manager, bound by RBAC's bootstrap policy), sa.key/sa.pub.
ensure_pki() {
	local pki=$1
	[[ -f "$pki/sa.pub" ]] && return 0
	mkdir -p "$pki" && chmod 700 "$pki"
	openssl ecparam -genkey -name prime256v1 -noout -out "$pki/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$pki/ca.key" -subj /CN=orkestra-test-control-plane-ca -days 3650 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature \
		-out "$pki/ca.crt" 2>/dev/null
	sign "$pki" apiserver /CN=orkestra-test-apiserver 'keyUsage=critical,digitalSignature' \
		'extendedKeyUsage=serverAuth' \
		'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:::1'
	client_cert "$pki" admin orkestra-admin system:masters
	client_cert "$pki" controller-manager system:kube-controller-manager
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	[[ -s "$pki/sa.pub" && -s "$pki/admin.crt" ]] || die "generating the control plane's PKI in $pki failed"
}

# write_kubeconfig FILE SERVER PKI NAME: a kubeconfig for client certificate NAME (context orkestra-test).
write_kubeconfig() {
	local file=$1 server=$2 pki=$3 name=$4
	rm -f "$file"
	kubectl --kubeconfig "$file" config set-cluster orkestra-test --server "$server" \
		--certificate-authority "$pki/ca.crt" --embed-certs >/dev/null
	kubectl --kubeconfig "$file" config set-credentials "orkestra-$name" \
		--client-certificate "$pki/$name.crt" --client-key "$pki/$name.key" --embed-certs >/dev/null
	kubectl --kubeconfig "$file" config set-context orkestra-test --cluster orkestra-test \
		--user "orkestra-$name" --namespace default >/dev/null
	kubectl --kubeconfig "$file" config use-context orkestra-test >/dev/null
}
