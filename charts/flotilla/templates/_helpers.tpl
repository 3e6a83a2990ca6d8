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

{{/* The operator image: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "flotilla.image" -}}
{{- if .Values.image.digest -}}
{{ printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}
{{- end }}

{{/* Whether `helm test` has a pod: it reaches the operator through the Service. */}}
{{- define "flotilla.testEnabled" -}}
{{- if and .Values.tests.enabled .Values.metrics.service.enabled }}true{{ end -}}
{{- end }}

{{/* Where Secrets are mounted in the operator container. */}}
{{- define "flotilla.webhookTlsDir" -}}/etc/flotilla/webhook-tls{{- end }}
{{- define "flotilla.secretDir" -}}/etc/flotilla/secrets{{- end }}

{{/* The webhook's serving-certificate Secret: the user's, or the one this chart generates. */}}
{{- define "flotilla.webhookTlsSecret" -}}
{{- default "flotilla-operator-webhook-tls" .Values.webhook.tls.existingSecret -}}
{{- end }}

{{/*
Mounted Secrets: a list of {volume, name, key, env} for every configured one. The operator reads
files, never the Secret API, so these need no RBAC.
*/}}
{{- define "flotilla.mountedSecrets" -}}
{{- $out := list -}}
{{- with .Values.chain.settlementKeySecret }}{{ if .name }}{{ $out = append $out (dict "volume" "settlement-key" "name" .name "key" .key "env" "FLOTILLA_SETTLEMENT_KEY_FILE") }}{{ end }}{{ end -}}
{{- with .Values.ipfs.receiptKeySecret }}{{ if .name }}{{ $out = append $out (dict "volume" "receipt-key" "name" .name "key" .key "env" "FLOTILLA_RECEIPT_KEY_FILE") }}{{ end }}{{ end -}}
{{- with .Values.checkpointReports.secret }}{{ if .name }}{{ $out = append $out (dict "volume" "report-secret" "name" .name "key" .key "env" "FLOTILLA_REPORT_SECRET_FILE") }}{{ end }}{{ end -}}
{{- with .Values.callbacks.secret }}{{ if .name }}{{ $out = append $out (dict "volume" "callback-secret" "name" .name "key" .key "env" "FLOTILLA_CALLBACK_SECRET_FILE") }}{{ end }}{{ end -}}
{{- toJson $out -}}
{{- end }}

{{/* FLOTILLA_TOKENS: SYMBOL=0xaddress:decimals, sorted by symbol. */}}
{{- define "flotilla.tokens" -}}
{{- $entries := list -}}
{{- range $symbol, $t := .Values.chain.tokens }}{{ $entries = append $entries (printf "%s=%s:%d" $symbol $t.address (int $t.decimals)) }}{{ end -}}
{{- join "," $entries -}}
{{- end }}

{{/* One webhook entry: dict root (the chart's .), w (name, path, operations, scope, hook), url, service, ns, caBundle. */}}
{{- define "flotilla.webhook" -}}
{{- $root := .root }}{{- $w := .w -}}
- name: {{ $w.hook | default $w.name }}.flotilla.dev
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: {{ $root.Values.webhook.failurePolicy }}
  timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
  matchPolicy: Equivalent
  clientConfig:
    {{- if $.url }}
    url: {{ printf "%s%s" $.url $w.path | quote }}
    {{- else }}
    service: { name: {{ $.service }}, namespace: {{ $.ns }}, port: 443, path: {{ $w.path }} }
    {{- end }}
    caBundle: {{ $.caBundle }}
  rules:
    - apiGroups: ["flotilla.dev"]
      apiVersions: ["v1alpha1"]
      operations: {{ toJson $w.operations }}
      resources: [{{ $w.name }}]
      scope: {{ $w.scope }}
  {{- if eq $w.scope "Namespaced" }}
  {{- with $root.Values.webhook.namespaceSelector }}
  namespaceSelector:
    {{- toYaml . | nindent 4 }}
  {{- else }}
  {{- with $root.Values.operator.watchNamespace }}
  # A namespace-scoped operator judges its own namespace only.
  namespaceSelector:
    matchLabels: { kubernetes.io/metadata.name: {{ . | quote }} }
  {{- end }}
  {{- end }}
  {{- end }}
  {{- with $root.Values.webhook.objectSelector }}
  objectSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
