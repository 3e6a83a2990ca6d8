{{- define "flotilla.labels" -}}
app.kubernetes.io/name: flotilla
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "flotilla.selectorLabels" -}}
app.kubernetes.io/name: flotilla
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Cluster-scoped names carry the release name and namespace: two releases must not collide. */}}
{{- define "flotilla.clusterName" -}}
{{ printf "%s-%s-flotilla-operator" .Release.Namespace .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
