{{/* Environment of the operator container: what operator/config.py reads. */}}
{{- define "yardarm.operatorEnv" -}}
- name: YARDARM_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: YARDARM_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: YARDARM_WATCH_NAMESPACES
  value: {{ join "," .Values.watchNamespaces | quote }}
- name: YARDARM_LOG_LEVEL
  value: {{ .Values.operator.logLevel | quote }}
- name: YARDARM_METRICS_PORT
  value: {{ .Values.operator.metricsPort | quote }}
- name: YARDARM_HEALTH_PORT
  value: {{ .Values.operator.healthPort | quote }}
- name: YARDARM_TRAINING_IMAGE
  value: {{ include "yardarm.trainingImage" . | quote }}
- name: YARDARM_SERVING_IMAGE
  value: {{ include "yardarm.image" .Values.servingImage | quote }}
- name: YARDARM_IMAGE_PULL_POLICY
  value: {{ .Values.servingImage.pullPolicy | quote }}
- name: YARDARM_TRAINING_SERVICE_ACCOUNT
  value: {{ include "yardarm.trainingServiceAccount" . | quote }}
- name: YARDARM_SERVING_SERVICE_ACCOUNT
  value: {{ include "yardarm.servingServiceAccount" . | quote }}
{{- if eq .Values.artifacts.type "pvc" }}
- name: YARDARM_ARTIFACT_STORE
  value: {{ printf "pvc://%s" .Values.artifacts.pvc.claimName | quote }}
{{- else }}
- name: YARDARM_ARTIFACT_STORE
  value: {{ printf "s3://%s" .Values.artifacts.s3.bucket | quote }}
- name: YARDARM_S3_ENDPOINT
  value: {{ .Values.artifacts.s3.endpoint | quote }}
- name: YARDARM_S3_REGION
  value: {{ .Values.artifacts.s3.region | quote }}
- name: YARDARM_S3_INSECURE
  value: {{ .Values.artifacts.s3.insecure | quote }}
- name: YARDARM_S3_SECRET
  value: {{ include "yardarm.s3Secret" . | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "yardarm.s3Secret" . }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "yardarm.s3Secret" . }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- end }}
