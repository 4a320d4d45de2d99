{{/* Names: the release's full name, at most 63 characters (a DNS label). */}}
{{- define "maestro-central.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "maestro-central.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "maestro-central.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "maestro-central.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "maestro-central.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maestro-central.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: maestro
{{- end -}}

{{- define "maestro-central.labels" -}}
{{ include "maestro-central.selectorLabels" . }}
app.kubernetes.io/part-of: maestro
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "maestro-central.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The SPIFFE identity maestro's certificate must name (docs/security.md, "Certificates"). */}}
{{- define "maestro-central.spiffeId" -}}
{{- printf "spiffe://%s/maestro" (required "trustDomain is required" .Values.trustDomain) -}}
{{- end -}}

{{/* The Secret holding the TLS certificate, key and CA. */}}
{{- define "maestro-central.tlsSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "maestro-central.fullname" .) -}}
{{- else -}}
{{- required "tls.existingSecret is required unless tls.certManager.enabled or tls.insecure" .Values.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster DNS names of the Service, always in the server certificate. */}}
{{- define "maestro-central.dnsNames" -}}
{{- $svc := include "maestro-central.fullname" . -}}
{{- $names := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) -}}
{{- toJson (concat $names .Values.tls.dnsNames) -}}
{{- end -}}

{{/* maestro's configuration (the keys of maestro/src/config.rs), as JSON. */}}
{{- define "maestro-central.config" -}}
{{- $tls := dict "insecure" true -}}
{{- if not .Values.tls.insecure -}}
{{- $tls = dict "ca" "/etc/maestro/tls/ca.pem" "cert" "/etc/maestro/tls/maestro.pem" "key" "/etc/maestro/tls/maestro-key.pem" "reload_secs" (int .Values.tls.reloadSecs) -}}
{{- end -}}
{{- $c := dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) "data_dir" "/var/lib/maestro" "catalog_dir" "/etc/maestro/catalog" "operator_policy" "/etc/maestro/policy/operators.yaml" "domain_unreachable_after_ms" (int .Values.config.domainUnreachableAfterMs) "tls" $tls -}}
{{- if .Values.metrics.enabled -}}
{{- $_ := set $c "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) -}}
{{- end -}}
{{- if eq (include "maestro-central.probeMode" .) "grpc" -}}
{{- $_ := set $c "health_listen" (printf "0.0.0.0:%d" (int .Values.probes.healthPort)) -}}
{{- end -}}
{{- toJson (mergeOverwrite $c .Values.extraConfig) -}}
{{- end -}}

{{/* The probes' mode: grpc (auto, the former default, is the same) or tcp (see values.yaml, probes). */}}
{{- define "maestro-central.probeMode" -}}
{{- if eq .Values.probes.mode "tcp" -}}tcp{{- else -}}grpc{{- end -}}
{{- end -}}

{{/* The health endpoint's port (health_listen), checked against the other ports. */}}
{{- define "maestro-central.healthPort" -}}
{{- $p := int .Values.probes.healthPort -}}
{{- if eq $p (int .Values.service.port) -}}{{- fail "probes.healthPort must differ from service.port" -}}{{- end -}}
{{- if and .Values.metrics.enabled (eq $p (int .Values.metrics.port)) -}}{{- fail "probes.healthPort must differ from metrics.port" -}}{{- end -}}
{{- $p -}}
{{- end -}}

{{/* A probe: grpc.health.v1 on the plaintext health endpoint (health_listen), or TCP on the gRPC
     port. Call with (dict "root" . "timing" MAP). */}}
{{- define "maestro-central.probe" -}}
{{- if eq (include "maestro-central.probeMode" .root) "grpc" }}
grpc:
  port: {{ include "maestro-central.healthPort" .root }}
{{- else }}
tcpSocket:
  port: grpc
{{- end }}
{{- toYaml .timing | nindent 0 }}
{{- end -}}
