{{/* Names, labels and shared blocks of the Yardarm chart. */}}

{{- define "yardarm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "yardarm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "yardarm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "yardarm.labels" -}}
helm.sh/chart: {{ include "yardarm.chart" . }}
{{ include "yardarm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: yardarm
{{- end }}

{{- define "yardarm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "yardarm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "yardarm.operatorSelectorLabels" -}}
{{ include "yardarm.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "yardarm.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "yardarm.fullname" .)) .Values.serviceAccounts.operator.name }}
{{- end }}

{{- define "yardarm.trainingServiceAccount" -}}
{{- default (printf "%s-training" (include "yardarm.fullname" .)) .Values.serviceAccounts.training.name }}
{{- end }}

{{- define "yardarm.servingServiceAccount" -}}
{{- default (printf "%s-serving" (include "yardarm.fullname" .)) .Values.serviceAccounts.serving.name }}
{{- end }}

{{/* Namespaces for training/serving ServiceAccounts and the artifact claim, as a JSON list. */}}
{{- define "yardarm.workloadNamespaces" -}}
{{- if .Values.workloadNamespaces }}
{{- toJson .Values.workloadNamespaces }}
{{- else if .Values.watchNamespaces }}
{{- toJson .Values.watchNamespaces }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{- define "yardarm.image" -}}
{{- printf "%s:%s" .repository (toString .tag) }}
{{- end }}

{{- define "yardarm.trainingImage" -}}
{{- if .Values.trainingImage.repository }}
{{- include "yardarm.image" .Values.trainingImage }}
{{- else }}
{{- include "yardarm.image" .Values.image }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the S3 endpoint's CA bundle (key ca.crt), or nothing. */}}
{{- define "yardarm.s3CAConfigMap" -}}
{{- if .Values.artifacts.s3.caBundleConfigMap }}{{ .Values.artifacts.s3.caBundleConfigMap }}
{{- else if .Values.artifacts.s3.caBundle }}{{ printf "%s-s3-ca" (include "yardarm.fullname" .) }}
{{- end }}
{{- end }}

{{- define "yardarm.s3Secret" -}}
{{- if .Values.objectStore.embedded.enabled }}
{{- printf "%s-s3" (include "yardarm.fullname" .) }}
{{- else }}
{{- default (printf "%s-s3" (include "yardarm.fullname" .)) .Values.artifacts.s3.existingSecret }}
{{- end }}
{{- end }}

{{/* "true" when the artifact store is S3: artifacts.type s3, or the embedded object store. */}}
{{- define "yardarm.s3Store" -}}
{{- if or .Values.objectStore.embedded.enabled (eq .Values.artifacts.type "s3") }}true{{ end }}
{{- end }}

{{- define "yardarm.objectStoreName" -}}
{{- printf "%s-objectstore" (include "yardarm.fullname" .) }}
{{- end }}

{{/* The S3 endpoint, bucket and the chart-made Secret's keys: the embedded store's, else artifacts.s3. */}}
{{- define "yardarm.s3Endpoint" -}}
{{- if .Values.objectStore.embedded.enabled }}
{{- printf "http://%s.%s.svc:7070" (include "yardarm.objectStoreName" .) .Release.Namespace }}
{{- else }}
{{- .Values.artifacts.s3.endpoint }}
{{- end }}
{{- end }}

{{- define "yardarm.s3Bucket" -}}
{{- if .Values.objectStore.embedded.enabled }}{{ .Values.objectStore.embedded.bucket }}{{ else }}{{ .Values.artifacts.s3.bucket }}{{ end }}
{{- end }}

{{/* Pod-level security context that PodSecurity "restricted" admits. */}}
{{- define "yardarm.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context that PodSecurity "restricted" admits. */}}
{{- define "yardarm.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}
