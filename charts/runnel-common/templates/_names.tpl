{{/*
Names are truncated to 63 characters: the DNS label limit Kubernetes applies to object names.
*/}}
{{- define "runnel-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "runnel-common.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a release-wide object shared by all services, e.g. "myrel-runnel-metadata". */}}
{{- define "runnel-common.releaseName" -}}
{{- printf "%s-runnel" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "runnel-common.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "runnel-common.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag; the tag falls back to global.image.tag, then the chart's appVersion. */}}
{{- define "runnel-common.image" -}}
{{- $global := .Values.global | default dict -}}
{{- $globalImage := $global.image | default dict -}}
{{- $registry := .Values.image.registry | default $globalImage.registry -}}
{{- $tag := .Values.image.tag | default $globalImage.tag | default .Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "runnel-common.imagePullPolicy" -}}
{{- $global := .Values.global | default dict -}}
{{- $globalImage := $global.image | default dict -}}
{{- .Values.image.pullPolicy | default $globalImage.pullPolicy | default "IfNotPresent" -}}
{{- end -}}
