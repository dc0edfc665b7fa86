#!/usr/bin/env bash
# Prints the Mutating- and ValidatingWebhookConfiguration for orkestra-webhook at URL.
#   webhook-configs.sh NAME URL CA_BUNDLE_BASE64
# NB: every field kube-apiserver would default is spelled out (the kinds are CRDs here; a missing
# matchPolicy/selector/scope makes the webhook silently never fire on older CRD definitions).
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
