{{/* The kcr image: repository@digest, or repository:tag (default the chart's appVersion). */}}
{{- define "kcr.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* Redis for the queues: the bundled one (same namespace, the Service's short name) or redis.url. */}}
{{- define "kcr.redisUrl" -}}
{{- if .Values.redis.url -}}
{{ .Values.redis.url }}
{{- else if .Values.redis.bundled -}}
redis://kcr-redis:6379
{{- else -}}
{{ fail "redis.url is required when redis.bundled is false" }}
{{- end -}}
{{- end }}
