{{/*
Pod annotations: Prometheus scraping always; the Dapr sidecar only when global.dapr.enabled
(and the chart does not opt out with dapr.enabled=false).
*/}}
{{- define "runnel-common.daprEnabled" -}}
{{- $g := .Values.global | default dict -}}
{{- $globalDapr := $g.dapr | default dict -}}
{{- $own := .Values.dapr | default dict -}}
{{- if and $globalDapr.enabled (ne (toString $own.enabled) "false") -}}true{{- end -}}
{{- end -}}

{{- define "runnel-common.podAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.containerPort | quote }}
prometheus.io/path: "/metrics"
{{- if include "runnel-common.daprEnabled" . }}
{{- $g := .Values.global | default dict }}
{{- $own := .Values.dapr | default dict }}
dapr.io/enabled: "true"
dapr.io/app-id: {{ $own.appId | default (include "runnel-common.fullname" .) | quote }}
{{- /* Sidecars invoke the node-to-node routes, which only the internal listener serves. */}}
dapr.io/app-port: {{ .Values.internalPort | quote }}
dapr.io/app-protocol: "http"
dapr.io/enable-app-health-check: "true"
dapr.io/app-health-check-path: "/health/live"
dapr.io/enable-metrics: "true"
dapr.io/metrics-port: "9090"
dapr.io/sidecar-seccomp-profile-type: "RuntimeDefault"
{{- /* The umbrella renders a Configuration named <release>-runnel unless global.dapr.config names another. */}}
dapr.io/config: {{ $g.dapr.config | default (printf "%s-runnel" .Release.Name) | quote }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
