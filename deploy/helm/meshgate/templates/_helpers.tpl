{{/* The chart's name, 63 characters at most (a label value). */}}
{{- define "meshgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects: the release name when it already contains
the chart name ("meshgate", "edge-meshgate"), else "<release>-<chart>".
*/}}
{{- define "meshgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", still a valid 63-character name. */}}
{{- define "meshgate.suffixed" -}}
{{- $base := include "meshgate.fullname" .root }}
{{- printf "%s-%s" ($base | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix }}
{{- end }}

{{- define "meshgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that pick this release's pods; they never change after install. */}}
{{- define "meshgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "meshgate.labels" -}}
helm.sh/chart: {{ include "meshgate.chart" . }}
{{ include "meshgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "meshgate.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "meshgate.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "meshgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "meshgate.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "meshgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "meshgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "meshgate.adminServiceName" -}}
{{- include "meshgate.suffixed" (dict "root" . "suffix" "admin") }}
{{- end }}

{{- define "meshgate.configMapName" -}}
{{- include "meshgate.suffixed" (dict "root" . "suffix" "config") }}
{{- end }}

{{/*
The read-only rules meshgate needs, for a ClusterRole or a namespaced Role:
exactly the kinds src/gateway/sources/kubernetes.ts watches.
*/}}
{{- define "meshgate.rbacRules" -}}
- apiGroups: ["networking.istio.io"]
  resources: ["gateways", "virtualservices", "destinationrules", "serviceentries"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["security.istio.io"]
  resources: ["requestauthentications", "authorizationpolicies"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["meshgate.io"]
  resources: ["ratelimitpolicies", "cachepolicies", "apikeypolicies", "edgefacts"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  # Secrets are not here: meshgate reads them only in its own namespace (see rbac.yaml).
  resources: ["services", "pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* The container's arguments after the image's `node /app/bin/meshgate.js serve`. */}}
{{- define "meshgate.args" -}}
- --kubernetes
# The admin listener binds 127.0.0.1 unless told otherwise; the kubelet's probes
# and Prometheus reach the pod at its own IP, so it listens on every address.
- --admin-host
- 0.0.0.0
- --admin-port
- {{ .Values.admin.port | quote }}
- --host
- 0.0.0.0
- --workers
- {{ .Values.workers | quote }}
- --log-level
- {{ .Values.logLevel | quote }}
- --drain-timeout
- {{ .Values.drainTimeoutSeconds | quote }}
{{- range .Values.watchNamespaces }}
- --watch-namespace
- {{ . | quote }}
{{- end }}
{{- with .Values.gatewayLabels }}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
- --gateway-labels
- {{ join "," $pairs | quote }}
{{- end }}
{{- if .Values.redis.url }}
- --redis
- {{ .Values.redis.url | quote }}
{{- else if .Values.redis.existingSecret }}
# The kubelet expands $(MESHGATE_REDIS_URL) from the env (the Secret), not the chart.
- --redis
- $(MESHGATE_REDIS_URL)
{{- end }}
{{- if .Values.extraConfig }}
- --config
- /etc/meshgate
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
