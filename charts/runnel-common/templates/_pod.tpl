{{/*
The pod spec every Runnel workload shares. A chart with .Values.persistence mounts "data" at
persistence.mountPath: from a volumeClaimTemplate when persistence.enabled, else an emptyDir.
/tmp is a writable emptyDir because the root filesystem is read-only (the runtime writes its
diagnostics sockets there).
*/}}
{{- define "runnel-common.podSpec" -}}
{{- $g := .Values.global | default dict -}}
{{- $persistence := .Values.persistence | default dict -}}
serviceAccountName: {{ include "runnel-common.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- include "runnel-common.podSecurityContext" . | nindent 2 }}
{{- with ($g.imagePullSecrets | default .Values.imagePullSecrets) }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds | default 30 }}
containers:
  - name: {{ .Chart.Name }}
    image: {{ include "runnel-common.image" . | quote }}
    imagePullPolicy: {{ include "runnel-common.imagePullPolicy" . }}
    {{- with .Values.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    ports:
      - name: http
        containerPort: {{ .Values.containerPort }}
        protocol: TCP
      - name: internal
        containerPort: {{ .Values.internalPort }}
        protocol: TCP
    env:
      {{- include "runnel-common.env" . | nindent 6 }}
    startupProbe:
      httpGet:
        path: /health/live
        port: http
        scheme: {{ if include "runnel-common.tlsEnabled" . }}HTTPS{{ else }}HTTP{{ end }}
      periodSeconds: 2
      # 60 s to start: the first start of a ShardStore node replays its logs.
      failureThreshold: 30
    livenessProbe:
      httpGet:
        path: /health/live
        port: http
        scheme: {{ if include "runnel-common.tlsEnabled" . }}HTTPS{{ else }}HTTP{{ end }}
      periodSeconds: 10
      timeoutSeconds: 2
      failureThreshold: 3
    readinessProbe:
      httpGet:
        path: /health/ready
        port: http
        scheme: {{ if include "runnel-common.tlsEnabled" . }}HTTPS{{ else }}HTTP{{ end }}
      periodSeconds: 10
      # Each dependency check is bounded at 3 s; 5 s leaves room for them to run in parallel.
      timeoutSeconds: 5
      failureThreshold: 3
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    securityContext:
      {{- include "runnel-common.containerSecurityContext" . | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- if include "runnel-common.tlsEnabled" . }}
      - name: tls
        mountPath: {{ include "runnel-common.tlsMountPath" . }}
        readOnly: true
      {{- end }}
      {{- if $persistence.mountPath }}
      - name: data
        mountPath: {{ $persistence.mountPath }}
      {{- end }}
      {{- with .Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
  {{- if include "runnel-common.tlsEnabled" . }}
  - name: tls
    secret:
      secretName: {{ required "global.tls.existingSecret must name a kubernetes.io/tls Secret when global.tls.enabled" $g.tls.existingSecret }}
      # Owner root, group fsGroup (the runtime's user): readable by that group, by nobody else.
      defaultMode: 0440
  {{- end }}
  {{- if and $persistence.mountPath (not $persistence.enabled) }}
  - name: data
    emptyDir: {}
  {{- end }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "runnel-common.selectorLabels" . | nindent 8 }}
{{- end -}}
