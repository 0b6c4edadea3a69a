{{/*
Secure by default. 1654 is the uid/gid of the non-root "app" user in the .NET runtime images.
A chart may override either block through podSecurityContext / containerSecurityContext.
*/}}
{{- define "runnel-common.podSecurityContext" -}}
{{- $default := dict "runAsNonRoot" true "runAsUser" 1654 "runAsGroup" 1654 "fsGroup" 1654 "fsGroupChangePolicy" "OnRootMismatch" "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $default (.Values.podSecurityContext | default dict)) -}}
{{- end -}}

{{- define "runnel-common.containerSecurityContext" -}}
{{- $default := dict "runAsNonRoot" true "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "privileged" false "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $default (.Values.containerSecurityContext | default dict)) -}}
{{- end -}}
