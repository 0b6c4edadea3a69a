{{- define "runnel-common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "runnel-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "runnel-common.labels" -}}
{{ include "runnel-common.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: runnel
app.kubernetes.io/component: {{ .Values.component | default .Chart.Name }}
{{- $global := .Values.global | default dict }}
{{- with $global.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
