{{/* Labels on every object of this chart. */}}
{{- define "flotilla-provider.labels" -}}
app.kubernetes.io/name: flotilla-provider
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* Cluster-scoped names carry the release name: two releases must not collide. */}}
{{- define "flotilla-provider.clusterName" -}}
{{ printf "%s-flotilla-provider-nodes" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flotilla-provider.tokenSecret" -}}
{{ printf "%s-token" .Values.serviceAccount.name | trunc 253 }}
{{- end }}
