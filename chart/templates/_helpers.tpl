{{/* Names, labels and the values the templates share. */}}

{{- define "orkestra.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object-name prefix: at most 40 characters, so that "<prefix>-webhook-tls" and the like stay valid
labels (63). */}}
{{- define "orkestra.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "orkestra.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; `helm uninstall` leaves none of them behind (the CRD carries none). */}}
{{- define "orkestra.labels" -}}
helm.sh/chart: {{ include "orkestra.chart" . }}
app.kubernetes.io/name: {{ include "orkestra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: orkestra
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include with (list . "controller"). */}}
{{- define "orkestra.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "orkestra.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "orkestra.componentLabels" -}}
{{ include "orkestra.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "orkestra.workflowNamespace" -}}
{{- default .Release.Namespace .Values.workflow.namespace }}
{{- end }}

{{/* Where an authSecretRef without a namespace points: shared by the controller and the webhook. */}}
{{- define "orkestra.secretNamespace" -}}
{{- default (include "orkestra.workflowNamespace" .) .Values.controller.secretNamespace }}
{{- end }}

{{- define "orkestra.controllerImage" -}}
{{- printf "%s:%s" .Values.controller.image.repository (default .Chart.AppVersion .Values.controller.image.tag) }}
{{- end }}

{{- define "orkestra.webhookImage" -}}
{{- printf "%s:%s" .Values.webhook.image.repository (default .Chart.AppVersion .Values.webhook.image.tag) }}
{{- end }}

{{- define "orkestra.webhookService" -}}
{{- printf "%s-webhook" (include "orkestra.fullname" .) }}
{{- end }}

{{- define "orkestra.webhookTlsSecret" -}}
{{- if eq .Values.webhook.certificates.mode "secret" }}
{{- required "webhook.certificates.secret.name is required with webhook.certificates.mode=secret" .Values.webhook.certificates.secret.name }}
{{- else }}
{{- printf "%s-webhook-tls" (include "orkestra.fullname" .) }}
{{- end }}
{{- end }}

{{- define "orkestra.registryName" -}}
{{- printf "%s-registry" (include "orkestra.fullname" .) }}
{{- end }}

{{/* host:port of the bundled registry's Service. */}}
{{- define "orkestra.registryHost" -}}
{{- /* No cluster domain: `<svc>.<ns>.svc` resolves through the pods' DNS search path on any cluster. */}}
{{- printf "%s.%s.svc:%d" (include "orkestra.registryName" .) .Release.Namespace (int .Values.staging.bundled.port) }}
{{- end }}

{{- define "orkestra.stagingUrl" -}}
{{- if .Values.staging.bundled.enabled }}
{{- printf "oci://%s/charts" (include "orkestra.registryHost" .) }}
{{- else }}
{{- required "staging.url is required (oci://HOST/PATH or http(s)://HOST), or set staging.bundled.enabled=true" .Values.staging.url }}
{{- end }}
{{- end }}

{{/* The DNS names (and IPs) the serving certificate names: the Service's, plus webhook.url's host. */}}
{{- define "orkestra.webhookDnsNames" -}}
{{- $svc := include "orkestra.webhookService" . }}
{{- $names := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) }}
{{- $host := include "orkestra.webhookUrlHost" . }}
{{- if and $host (not (regexMatch "^[0-9.]+$|:" $host)) }}
{{- $names = append $names $host }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{- define "orkestra.webhookIps" -}}
{{- $host := include "orkestra.webhookUrlHost" . }}
{{- if and $host (regexMatch "^[0-9.]+$|:" $host) }}
{{- toJson (list $host) }}
{{- else }}
{{- toJson list }}
{{- end }}
{{- end }}

{{/* webhook.url's host, without brackets or port; empty when unset. */}}
{{- define "orkestra.webhookUrlHost" -}}
{{- with .Values.webhook.url }}
{{- (urlParse .).host | regexFind "^(\\[[^]]*\\]|[^:]*)" | trimPrefix "[" | trimSuffix "]" }}
{{- end }}
{{- end }}

{{/* Pod and container security: the restricted Pod Security Standard. */}}
{{- define "orkestra.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "orkestra.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- /* The chart's pods' pull Secrets (imagePullSecrets). */}}
{{- define "orkestra.imagePullSecrets" -}}
{{- include "orkestra.pullSecrets" .Values.imagePullSecrets }}
{{- end }}

{{- /* `imagePullSecrets:` of a list of Secret names or {name: …} (empty: nothing). */}}
{{- define "orkestra.pullSecrets" -}}
{{- with . -}}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{- /* The controller's group selector: controller.groupSelector, or else webhook.objectSelector
written as a label selector string (groups outside it skip admission, so the controller must not
act on them). Empty: every group. */}}
{{- define "orkestra.groupSelector" -}}
{{- if .Values.controller.groupSelector }}
{{- .Values.controller.groupSelector }}
{{- else }}
{{- $parts := list }}
{{- $selector := .Values.webhook.objectSelector | default dict }}
{{- range $key, $value := $selector.matchLabels }}
{{- $parts = append $parts (printf "%s=%s" $key $value) }}
{{- end }}
{{- range $selector.matchExpressions }}
{{- if eq .operator "In" }}
{{- $parts = append $parts (printf "%s in (%s)" .key (join "," .values)) }}
{{- else if eq .operator "NotIn" }}
{{- $parts = append $parts (printf "%s notin (%s)" .key (join "," .values)) }}
{{- else if eq .operator "Exists" }}
{{- $parts = append $parts .key }}
{{- else if eq .operator "DoesNotExist" }}
{{- $parts = append $parts (printf "!%s" .key) }}
{{- else }}
{{- fail (printf "webhook.objectSelector.matchExpressions: unknown operator %q (In, NotIn, Exists, DoesNotExist)" .operator) }}
{{- end }}
{{- end }}
{{- join "," $parts }}
{{- end }}
{{- end }}
