{{/* Environment of the operator container: what operator/config.py (from_env) reads. */}}
{{- define "yardarm.operatorEnv" -}}
- name: YARDARM_NAMESPACES
  value: {{ join "," .Values.watchNamespaces | quote }}
- name: YARDARM_ALL_NAMESPACES
  value: {{ empty .Values.watchNamespaces | quote }}
- name: YARDARM_TRAINING_IMAGE
  value: {{ include "yardarm.trainingImage" . | quote }}
- name: YARDARM_SERVING_IMAGE
  value: {{ include "yardarm.image" .Values.servingImage | quote }}
- name: YARDARM_IMAGE_PULL_POLICY
  value: {{ .Values.servingImage.pullPolicy | quote }}
{{- /*
The training/serving ServiceAccounts exist only where the chart made them (workload namespaces):
name them to the operator when that covers every namespace it works in (a namespaced operator),
or when the user says they manage the accounts (an explicit name). Otherwise pods use the
namespace's default account.
*/}}
{{- if or (and .Values.watchNamespaces .Values.serviceAccounts.training.create) .Values.serviceAccounts.training.name }}
- name: YARDARM_JOB_SERVICE_ACCOUNT
  value: {{ include "yardarm.trainingServiceAccount" . | quote }}
{{- end }}
{{- if or (and .Values.watchNamespaces .Values.serviceAccounts.serving.create) .Values.serviceAccounts.serving.name }}
- name: YARDARM_SERVING_SERVICE_ACCOUNT
  value: {{ include "yardarm.servingServiceAccount" . | quote }}
{{- end }}
- name: YARDARM_METRICS_PORT
  value: {{ .Values.operator.metricsPort | quote }}
- name: YARDARM_HEALTH_PORT
  value: {{ .Values.operator.healthPort | quote }}
- name: YARDARM_LOG_FORMAT
  value: {{ .Values.operator.logFormat | quote }}
- name: YARDARM_RESYNC_SECONDS
  value: {{ .Values.operator.resyncSeconds | quote }}
- name: YARDARM_WORKERS
  value: {{ .Values.operator.workers | quote }}
{{- with .Values.operator.peering }}
- name: YARDARM_PEERING
  value: {{ . | quote }}
{{- /* Kopf peering ranks replicas by priority: the operator derives a distinct one from its pod name. */}}
- name: YARDARM_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- if not (include "yardarm.s3Store" .) }}
- name: YARDARM_ARTIFACTS_CLAIM
  value: {{ .Values.artifacts.pvc.claimName | quote }}
- name: YARDARM_DEFAULT_OUTPUT_URI
  value: {{ printf "pvc://%s/yardarm" .Values.artifacts.pvc.claimName | quote }}
{{- else if .Values.objectStore.embedded.enabled }}
- name: YARDARM_DEFAULT_OUTPUT_URI
  value: {{ printf "s3://%s/yardarm" (include "yardarm.s3Bucket" .) | quote }}
- name: YARDARM_S3_ENDPOINT
  value: {{ include "yardarm.s3Endpoint" . | quote }}
- name: YARDARM_S3_REGION
  value: "us-east-1"
- name: YARDARM_S3_INSECURE
  value: "true"
- name: YARDARM_S3_ADDRESSING
  value: "path"
- name: YARDARM_S3_SECRET
  value: {{ include "yardarm.s3Secret" . | quote }}
{{- else }}
- name: YARDARM_DEFAULT_OUTPUT_URI
  value: {{ printf "s3://%s/yardarm" .Values.artifacts.s3.bucket | quote }}
- name: YARDARM_S3_ENDPOINT
  value: {{ .Values.artifacts.s3.endpoint | quote }}
- name: YARDARM_S3_REGION
  value: {{ .Values.artifacts.s3.region | quote }}
- name: YARDARM_S3_INSECURE
  value: {{ .Values.artifacts.s3.insecure | quote }}
- name: YARDARM_S3_ADDRESSING
  value: {{ .Values.artifacts.s3.addressing | quote }}
{{- if eq .Values.artifacts.s3.credentials "defaultChain" }}
- name: YARDARM_S3_CREDENTIALS
  value: "chain"
{{- else }}
- name: YARDARM_S3_SECRET
  value: {{ include "yardarm.s3Secret" . | quote }}
{{- end }}
{{- with include "yardarm.s3CAConfigMap" . }}
- name: YARDARM_S3_CA_CONFIGMAP
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
