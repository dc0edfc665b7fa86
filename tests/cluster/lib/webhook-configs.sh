#!/usr/bin/env bash
# Prints the Mutating- and ValidatingWebhookConfiguration for orkestra-webhook at URL.
#   webhook-configs.sh NAME URL CA_BUNDLE_BASE64
# Every field kube-apiserver would default is spelled out, so the configuration reads the same in
# the file as in the cluster.
set -euo pipefail
name=$1 url=$2 ca=$3
for kind in Mutating Validating; do
	path=/validate
	extra=""
	if [[ $kind == Mutating ]]; then
		path=/mutate
		extra="    reinvocationPolicy: Never"
	fi
	cat <<YAML
---
apiVersion: admissionregistration.k8s.io/v1
kind: ${kind}WebhookConfiguration
metadata:
  name: $name
webhooks:
  - name: ${kind,,}.orkestra.azure.microsoft.com
    clientConfig:
      url: $url$path
      caBundle: $ca
    rules:
      - apiGroups: [orkestra.azure.microsoft.com]
        apiVersions: [v1alpha1]
        resources: [applicationgroups]
        operations: [CREATE, UPDATE]
        scope: "*"
    failurePolicy: Fail
    matchPolicy: Equivalent
    namespaceSelector: {}
    objectSelector: {}
    sideEffects: None
    timeoutSeconds: 10
    admissionReviewVersions: [v1]
$extra
YAML
done
