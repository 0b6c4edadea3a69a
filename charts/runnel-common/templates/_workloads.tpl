{{- define "runnel-common.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "runnel-common.fullname" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "runnel-common.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "runnel-common.labels" . | nindent 8 }}
      annotations:
        {{- include "runnel-common.podAnnotations" . | nindent 8 }}
    spec:
      {{- include "runnel-common.podSpec" . | nindent 6 }}
{{- end -}}

{{/*
A StatefulSet with stable pod names behind a headless Service: each pod registers
http://<pod>.<headless>.<namespace>.svc:<port> as its address, and its volume follows it.
*/}}
{{- define "runnel-common.statefulset" -}}
{{- $persistence := .Values.persistence | default dict -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ include "runnel-common.fullname" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
spec:
  serviceName: {{ include "runnel-common.fullname" . }}-headless
  replicas: {{ .Values.replicaCount }}
  # Nodes start in parallel: ownership comes from placements in PostgreSQL, not from pod ordinals.
  podManagementPolicy: Parallel
  revisionHistoryLimit: 5
  updateStrategy:
    type: RollingUpdate
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: {{ $persistence.whenDeleted | default "Retain" }}
    whenScaled: {{ $persistence.whenScaled | default "Retain" }}
  selector:
    matchLabels:
      {{- include "runnel-common.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "runnel-common.labels" . | nindent 8 }}
      annotations:
        {{- include "runnel-common.podAnnotations" . | nindent 8 }}
    spec:
      {{- include "runnel-common.podSpec" . | nindent 6 }}
  {{- if $persistence.enabled }}
  volumeClaimTemplates:
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: data
        labels:
          {{- include "runnel-common.selectorLabels" . | nindent 10 }}
      spec:
        accessModes:
          {{- toYaml ($persistence.accessModes | default (list "ReadWriteOnce")) | nindent 10 }}
        {{- with $persistence.storageClass }}
        storageClassName: {{ . | quote }}
        {{- end }}
        resources:
          requests:
            storage: {{ $persistence.size | default "10Gi" | quote }}
  {{- end }}
{{- end -}}

{{- define "runnel-common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "runnel-common.fullname" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type | default "ClusterIP" }}
  selector:
    {{- include "runnel-common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port | default .Values.containerPort }}
      targetPort: http
      protocol: TCP
      {{- if include "runnel-common.tlsEnabled" . }}
      appProtocol: https
      {{- else if .Values.service.appProtocol }}
      appProtocol: {{ .Values.service.appProtocol }}
      {{- end }}
    - name: internal
      port: {{ .Values.internalPort }}
      targetPort: internal
      protocol: TCP
{{- end -}}

{{- define "runnel-common.headlessService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "runnel-common.fullname" . }}-headless
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
spec:
  clusterIP: None
  # Peers must resolve a node while it is still starting, e.g. to fence it.
  publishNotReadyAddresses: true
  selector:
    {{- include "runnel-common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.containerPort }}
      targetPort: http
      protocol: TCP
    - name: internal
      port: {{ .Values.internalPort }}
      targetPort: internal
      protocol: TCP
{{- end -}}

{{- define "runnel-common.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "runnel-common.serviceAccountName" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{- define "runnel-common.hpa" -}}
{{- if .Values.autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "runnel-common.fullname" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "runnel-common.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
    {{- with .Values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end -}}
{{- end -}}

{{- define "runnel-common.pdb" -}}
{{- if .Values.pdb.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "runnel-common.fullname" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
spec:
  {{- if .Values.pdb.maxUnavailable }}
  maxUnavailable: {{ .Values.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ .Values.pdb.minAvailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "runnel-common.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}

{{/*
Ingress only from pods of this release (Runnel services call each other), from the Dapr control
plane and sidecars when Dapr is on, from namespaces allowed to scrape metrics, and from anywhere
when networkPolicy.allowExternal (the public Ingest endpoint). The internal port (node API, forwarding routes)
admits this release's pods only, whatever allowExternal says. Egress is not restricted: the
services reach PostgreSQL, Redis, RabbitMQ and S3 wherever the operator runs them.
*/}}
{{- define "runnel-common.networkPolicy" -}}
{{- if .Values.networkPolicy.enabled -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "runnel-common.fullname" . }}
  labels:
    {{- include "runnel-common.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "runnel-common.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: runnel
              app.kubernetes.io/instance: {{ .Release.Name }}
      ports:
        - port: internal
    {{- if .Values.networkPolicy.allowExternal }}
    - ports:
        - port: http
    {{- else }}
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: runnel
              app.kubernetes.io/instance: {{ .Release.Name }}
      ports:
        - port: http
    {{- end }}
    {{- with .Values.networkPolicy.metricsNamespaceSelector }}
    - from:
        - namespaceSelector:
            {{- toYaml . | nindent 12 }}
      ports:
        - port: http
    {{- end }}
    {{- if include "runnel-common.daprEnabled" . }}
    # Sidecar-to-sidecar invocation arrives on daprd's internal gRPC port 50002.
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: runnel
              app.kubernetes.io/instance: {{ .Release.Name }}
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ .Values.networkPolicy.daprNamespace | default "dapr-system" }}
      ports:
        - port: 50002
        - port: 9090
    {{- end }}
{{- end -}}
{{- end -}}
