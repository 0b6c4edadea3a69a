{{/*
Configuration shared by every Runnel process, as environment variables (".NET config key" with
":" written "__"). Secrets are referenced, never rendered: the release must provide them.
*/}}
{{- define "runnel-common.secretEnv" -}}
{{- $ref := index . 1 -}}
{{- if and $ref $ref.existingSecret }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.existingSecret }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/*
"true" when this chart's public port serves https (global.tls.enabled and the chart named in global.tls.services),
else empty.
*/}}
{{- define "runnel-common.tlsEnabled" -}}
{{- $tls := (.Values.global | default dict).tls | default dict -}}
{{- if and $tls.enabled (has .Chart.Name ($tls.services | default (list "ingest"))) }}true{{ end -}}
{{- end -}}

{{- define "runnel-common.tlsMountPath" -}}/etc/runnel/tls{{- end -}}

{{- define "runnel-common.env" -}}
{{- $g := .Values.global | default dict -}}
{{- $dapr := $g.dapr | default dict -}}
{{- $s3 := $g.s3 | default dict -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: Runnel__NodeName
  value: "$(POD_NAME)"
{{- if include "runnel-common.tlsEnabled" . }}
- name: ASPNETCORE_URLS
  value: {{ printf "https://+:%v" .Values.containerPort | quote }}
# Kestrel's standard default certificate, PEM files mounted from global.tls.existingSecret (runnel-common.podSpec).
- name: Kestrel__Certificates__Default__Path
  value: {{ printf "%s/tls.crt" (include "runnel-common.tlsMountPath" .) | quote }}
- name: Kestrel__Certificates__Default__KeyPath
  value: {{ printf "%s/tls.key" (include "runnel-common.tlsMountPath" .) | quote }}
{{- else }}
- name: ASPNETCORE_URLS
  value: {{ printf "http://+:%v" .Values.containerPort | quote }}
{{- end }}
- name: Runnel__Internal__Urls
  value: {{ printf "http://+:%v" .Values.internalPort | quote }}
- name: Runnel__Region
  value: {{ $g.region | default "us-east-1" | quote }}
- name: Runnel__AccountId
  value: {{ $g.accountId | default "000000000000" | quote }}
- name: Metadata__Provider
  value: "Postgres"
{{- include "runnel-common.secretEnv" (list "ConnectionStrings__Metadata" $g.metadata) }}
{{- include "runnel-common.secretEnv" (list "Runnel__IteratorSigningKey" $g.iteratorSigningKey) }}
{{- $security := $g.security | default dict }}
- name: Security__Authentication
  value: {{ $security.authentication | default "SigV4" | quote }}
{{- if $security.existingSecret }}
{{- include "runnel-common.secretEnv" (list "Security__MasterKey" (dict "existingSecret" $security.existingSecret "key" $security.masterKeyKey)) }}
{{- include "runnel-common.secretEnv" (list "Security__BootstrapAccessKeyId" (dict "existingSecret" $security.existingSecret "key" $security.bootstrapAccessKeyIdKey)) }}
{{- include "runnel-common.secretEnv" (list "Security__BootstrapSecretAccessKey" (dict "existingSecret" $security.existingSecret "key" $security.bootstrapSecretAccessKeyKey)) }}
{{- end }}
{{- /* Every service refuses to start without the internal token, so the Secret must hold it. */}}
{{- include "runnel-common.secretEnv" (list "Runnel__Internal__Token" (dict "existingSecret" ($security.existingSecret | required "global.security.existingSecret must name the Secret with the internal token") "key" ($security.internalTokenKey | default "internal-token"))) }}
{{- with $g.redis }}
{{- if .address }}
- name: ConnectionStrings__Redis
  value: {{ .address | quote }}
{{- end }}
{{- end }}
{{- include "runnel-common.secretEnv" (list "ConnectionStrings__RabbitMq" $g.rabbitmq) }}
{{- if $s3.endpoint }}
- name: S3__Endpoint
  value: {{ $s3.endpoint | quote }}
- name: S3__Bucket
  value: {{ $s3.bucket | default "" | quote }}
{{- include "runnel-common.secretEnv" (list "S3__AccessKey" (dict "existingSecret" $s3.existingSecret "key" $s3.accessKeyKey)) }}
{{- include "runnel-common.secretEnv" (list "S3__SecretKey" (dict "existingSecret" $s3.existingSecret "key" $s3.secretKeyKey)) }}
{{- end }}
- name: Dapr__Enabled
  value: {{ $dapr.enabled | default false | quote }}
- name: Dapr__HttpEndpoint
  value: "http://127.0.0.1:3500"
- name: Logging__Json
  value: {{ $g.jsonLogs | default false | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .Values.component | default .Chart.Name | printf "runnel-%s" | quote }}
{{- with $g.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- /* Values may use templates, e.g. the headless Service name in an advertised address. */}}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ tpl (toString $value) $ | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
