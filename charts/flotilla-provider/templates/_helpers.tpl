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

{{/* The provider's own Kubo (kubo.enabled): its objects live in the release namespace, outside the
     lent namespace's default-deny policies, and carry the release name (two releases may share it).
     52 characters at most: the StatefulSet's pods get a controller-revision-hash label of the name and
     11 more, and label values stop at 63. */}}
{{- define "flotilla-provider.kubo.name" -}}
{{ printf "%s-kubo" .Release.Name | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "flotilla-provider.kubo.selectorLabels" -}}
app.kubernetes.io/name: flotilla-provider-kubo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Secret of the release namespace holding the tokens: the chart's, or kubo.auth.existingSecret. */}}
{{- define "flotilla-provider.kubo.authSecret" -}}
{{ .Values.kubo.auth.existingSecret | default (printf "%s-auth" (include "flotilla-provider.kubo.name" .)) }}
{{- end }}

{{/* repository@digest when a digest is set, else repository:tag. */}}
{{- define "flotilla-provider.kubo.image" -}}
{{- $image := .Values.kubo.image -}}
{{- if $image.digest -}}
{{ printf "%s@%s" $image.repository $image.digest }}
{{- else -}}
{{ printf "%s:%s" $image.repository $image.tag }}
{{- end -}}
{{- end }}

{{/* The RPC API URL lent pods reach (GPUProvider spec.ipfsApi). */}}
{{- define "flotilla-provider.kubo.apiUrl" -}}
{{ printf "http://%s.%s.svc:5001" (include "flotilla-provider.kubo.name" .) .Release.Namespace }}
{{- end }}

{{/* A word for sh, whatever it contains: single-quoted, each ' as '"'"'. */}}
{{- define "flotilla-provider.shellWord" -}}
'{{ replace "'" "'\"'\"'" . }}'
{{- end }}

{{/* The fence's policies and bindings (templates/fence.yaml): cluster-scoped, so per release. */}}
{{- define "flotilla-provider.fenceName" -}}
{{ printf "%s-flotilla-fence" .Release.Name | trunc 56 | trimSuffix "-" }}
{{- end }}

{{/* Where the fence binds: the lent namespace, or (fence.allNamespaces) every namespace that holds a
     flotilla-fence ConfigMap — a cluster lending several namespaces under one release. */}}
{{- define "flotilla-provider.fenceNamespaces" -}}
{{- if .Values.fence.allNamespaces }}
namespaceSelector: {}
{{- else }}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ .Values.namespace.name }}
{{- end }}
{{- end }}
