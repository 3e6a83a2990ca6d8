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

{{/* Pod Security Admission on the lent namespace: the provider's apiserver itself refuses lent pods
     that could reach the node (privileged, host namespaces and paths, added capabilities). */}}
{{- define "flotilla-provider.podSecurityLabels" -}}
pod-security.kubernetes.io/enforce: {{ .Values.podSecurity.enforce }}
pod-security.kubernetes.io/enforce-version: {{ .Values.podSecurity.version }}
pod-security.kubernetes.io/warn: {{ .Values.podSecurity.warn }}
pod-security.kubernetes.io/warn-version: {{ .Values.podSecurity.version }}
pod-security.kubernetes.io/audit: {{ .Values.podSecurity.audit }}
pod-security.kubernetes.io/audit-version: {{ .Values.podSecurity.version }}
{{- end }}

{{/* The pods the hub creates: the operator labels every one with its job's uid and attempt
     (operator/controllers/aijob/pod-template.ts). */}}
{{- define "flotilla-provider.lentPodSelector" -}}
matchExpressions:
  - {key: flotilla.dev/job-uid, operator: Exists}
  - {key: flotilla.dev/attempt, operator: Exists}
{{- end }}
