{{/* Names and labels shared by every template of the chart. */}}

{{- define "hippo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name, at most 63 characters (a DNS label); components append -api, -worker. */}}
{{- define "hippo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "hippo.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "hippo.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hippo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "hippo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "api"). */}}
{{- define "hippo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hippo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hippo.secretName" -}}
{{- default (printf "%s-secret" (include "hippo.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{/* image reference; call with (dict "root" $ "image" .Values.api.image). */}}
{{- define "hippo.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* The environment both the api and the workers get: the Secret, config, extraEnv. */}}
{{- define "hippo.env" -}}
envFrom:
  - secretRef:
      name: {{ include "hippo.secretName" . }}
env:
{{- range $name, $value := .Values.config }}
  - name: {{ $name }}
    value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}
