{{- define "maestro-domain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name; component names append at most 14 characters to it. */}}
{{- define "maestro-domain.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 49 | trimSuffix "-" -}}
{{- else if contains (include "maestro-domain.name" .) .Release.Name -}}
{{- .Release.Name | trunc 49 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "maestro-domain.name" .) | trunc 49 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "maestro-domain.orchestrator" -}}{{ include "maestro-domain.fullname" . }}-orchestrator{{- end -}}
{{- define "maestro-domain.logServer" -}}{{ include "maestro-domain.fullname" . }}-log-server{{- end -}}
{{- define "maestro-domain.gitServer" -}}{{ include "maestro-domain.fullname" . }}-git{{- end -}}

{{/* Selector labels of one component: call with (dict "root" . "component" "orchestrator"). */}}
{{- define "maestro-domain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maestro-domain.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "maestro-domain.labels" -}}
{{ include "maestro-domain.selectorLabels" . }}
app.kubernetes.io/part-of: maestro
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | trunc 63 | trimSuffix "-" }}
maestro.io/domain: {{ .root.Values.domain | quote }}
{{- end -}}

{{- define "maestro-domain.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "maestro-domain.domain" -}}
{{- required "domain is required (the domain's name, e.g. north)" .Values.domain -}}
{{- end -}}

{{/* The identity the orchestrator and the log server share (docs/security.md, "Certificates"). */}}
{{- define "maestro-domain.spiffeId" -}}
{{- printf "spiffe://%s/domain/%s" (required "trustDomain is required" .Values.trustDomain) (include "maestro-domain.domain" .) -}}
{{- end -}}

{{- define "maestro-domain.tlsSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "maestro-domain.fullname" .) -}}
{{- else -}}
{{- required "tls.existingSecret is required unless tls.certManager.enabled or tls.insecure" .Values.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "maestro-domain.scheme" -}}{{ ternary "http" "https" .Values.tls.insecure }}{{- end -}}

{{/* In-cluster DNS names of a Service: call with (dict "root" . "svc" NAME); JSON list. */}}
{{- define "maestro-domain.svcNames" -}}
{{- $ns := .root.Release.Namespace -}}
{{- toJson (list .svc (printf "%s.%s" .svc $ns) (printf "%s.%s.svc" .svc $ns) (printf "%s.%s.svc.cluster.local" .svc $ns)) -}}
{{- end -}}

{{/* tls section of both components' configs. */}}
{{- define "maestro-domain.tlsConfig" -}}
{{- if .Values.tls.insecure -}}
{{- toJson (dict "insecure" true) -}}
{{- else -}}
{{- $d := include "maestro-domain.domain" . -}}
{{- toJson (dict "ca" "/etc/maestro/tls/ca.pem" "cert" (printf "/etc/maestro/tls/domain-%s.pem" $d) "key" (printf "/etc/maestro/tls/domain-%s-key.pem" $d) "reload_secs" (int .Values.tls.reloadSecs)) -}}
{{- end -}}
{{- end -}}

{{- define "maestro-domain.gitRemote" -}}
{{- if .Values.gitServer.enabled -}}
{{- printf "https://%s.%s.svc:%d/%s.git" (include "maestro-domain.gitServer" .) .Release.Namespace (int .Values.gitServer.port) (include "maestro-domain.domain" .) -}}
{{- else -}}
{{- required "git.remote is required unless gitServer.enabled" .Values.git.remote -}}
{{- end -}}
{{- end -}}

{{/* The orchestrator's config (domain-orchestrator/src/config.rs), as JSON. */}}
{{- define "maestro-domain.orchestratorConfig" -}}
{{- $git := dict -}}
{{- with .Values.git.username }}{{- $_ := set $git "username" . -}}{{- end -}}
{{- if .Values.git.passwordKey }}{{- $_ := set $git "password_file" "/etc/maestro/git/password" -}}{{- end -}}
{{- if .Values.git.sshKeyKey }}{{- $_ := set $git "ssh_key" "/etc/maestro/git/ssh-key" -}}{{- end -}}
{{- if .Values.git.knownHostsKey }}{{- $_ := set $git "known_hosts" "/etc/maestro/git/known_hosts" -}}{{- end -}}
{{- if .Values.gitServer.enabled -}}
{{- $_ := set $git "ca" "/etc/maestro/git-server-ca/ca.crt" -}}
{{- else if .Values.git.caKey -}}
{{- $_ := set $git "ca" "/etc/maestro/git/ca.pem" -}}
{{- end -}}
{{- $keys := list -}}
{{- range .Values.signing.keys }}{{- $keys = append $keys (printf "/etc/maestro/signing/%s" .) -}}{{- end -}}
{{- $signing := dict "keys" $keys "validity_secs" (int .Values.signing.validitySecs) "renew_before_secs" (int .Values.signing.renewBeforeSecs) -}}
{{- $orch := include "maestro-domain.orchestrator" . -}}
{{- $c := dict "domain" (include "maestro-domain.domain" .) "listen" (printf "0.0.0.0:%d" (int .Values.orchestrator.port)) "data_dir" "/var/lib/maestro" "git_remote" (include "maestro-domain.gitRemote" .) "git" $git "branch" .Values.branch "sites" .Values.sites "labels" .Values.labels "region" .Values.region "tls" (include "maestro-domain.tlsConfig" . | fromJson) "signing" $signing "policy" .Values.policy -}}
{{- $_ := set $c "advertise" (default (printf "%s://%s.%s.svc:%d" (include "maestro-domain.scheme" .) $orch .Release.Namespace (int .Values.orchestrator.port)) .Values.orchestrator.advertise) -}}
{{- $_ := set $c "log_server" (printf "%s://%s.%s.svc:%d" (include "maestro-domain.scheme" .) (include "maestro-domain.logServer" .) .Release.Namespace (int .Values.logServer.port)) -}}
{{- with .Values.maestro.endpoint }}{{- $_ := set $c "maestro" . -}}{{- end -}}
{{- if or .Values.catalog .Values.catalogConfigMap }}{{- $_ := set $c "catalog_dir" "/etc/maestro/catalog" -}}{{- end -}}
{{- if .Values.metrics.enabled }}{{- $_ := set $c "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) -}}{{- end -}}
{{- if eq (include "maestro-domain.probeMode" .) "grpc" }}{{- $_ := set $c "health_listen" (printf "0.0.0.0:%d" (int .Values.orchestrator.healthPort)) -}}{{- end -}}
{{- toJson (mergeOverwrite $c .Values.orchestrator.extraConfig) -}}
{{- end -}}

{{/* The log server's config (log-server/src/config.rs), as JSON. */}}
{{- define "maestro-domain.logServerConfig" -}}
{{- $c := dict "domain" (include "maestro-domain.domain" .) "listen" (printf "0.0.0.0:%d" (int .Values.logServer.port)) "data_dir" "/var/lib/maestro" "tls" (include "maestro-domain.tlsConfig" . | fromJson) -}}
{{- if .Values.metrics.enabled }}{{- $_ := set $c "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) -}}{{- end -}}
{{- if eq (include "maestro-domain.probeMode" .) "grpc" }}{{- $_ := set $c "health_listen" (printf "0.0.0.0:%d" (int .Values.logServer.healthPort)) -}}{{- end -}}
{{- toJson (mergeOverwrite $c .Values.logServer.extraConfig) -}}
{{- end -}}

{{/* The probes' mode: grpc (auto, the former default, is the same) or tcp (see values.yaml, probes). */}}
{{- define "maestro-domain.probeMode" -}}
{{- if eq .Values.probes.mode "tcp" -}}tcp{{- else -}}grpc{{- end -}}
{{- end -}}

{{/* A component's health endpoint port (health_listen), checked against its other ports: call
     with (dict "root" . "component" "orchestrator"|"logServer"). */}}
{{- define "maestro-domain.healthPort" -}}
{{- $v := index .root.Values .component -}}
{{- $p := int $v.healthPort -}}
{{- if eq $p (int $v.port) -}}{{- fail (printf "%s.healthPort must differ from %s.port" .component .component) -}}{{- end -}}
{{- if and .root.Values.metrics.enabled (eq $p (int .root.Values.metrics.port)) -}}{{- fail (printf "%s.healthPort must differ from metrics.port" .component) -}}{{- end -}}
{{- $p -}}
{{- end -}}

{{/* A component's container port named health, when probes.mode is grpc: call as
     maestro-domain.healthPort. */}}
{{- define "maestro-domain.healthContainerPort" -}}
{{- if eq (include "maestro-domain.probeMode" .root) "grpc" -}}
# health_listen: grpc.health.v1 only, plaintext, for the kubelet's gRPC probe; in no Service.
- name: health
  containerPort: {{ include "maestro-domain.healthPort" . }}
  protocol: TCP
{{- end -}}
{{- end -}}

{{/* A probe: grpc.health.v1 on the component's plaintext health endpoint (health_listen), or TCP
     on its gRPC port. Call with (dict "root" . "component" "orchestrator"|"logServer" "timing" MAP). */}}
{{- define "maestro-domain.probe" -}}
{{- if eq (include "maestro-domain.probeMode" .root) "grpc" }}
grpc:
  port: {{ include "maestro-domain.healthPort" . }}
{{- else }}
tcpSocket:
  port: grpc
{{- end }}
{{- toYaml .timing | nindent 0 }}
{{- end -}}

{{/* The TLS volume of both components. */}}
{{- define "maestro-domain.tlsVolume" -}}
{{- $d := include "maestro-domain.domain" . -}}
- name: tls
  secret:
    secretName: {{ include "maestro-domain.tlsSecret" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.tls.keys.ca }}
        path: ca.pem
      - key: {{ .Values.tls.keys.cert }}
        path: domain-{{ $d }}.pem
      - key: {{ .Values.tls.keys.key }}
        path: domain-{{ $d }}-key.pem
{{- end -}}

{{- define "maestro-domain.gitServerTlsSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "maestro-domain.gitServer" .) -}}
{{- else -}}
{{- required "gitServer.tls.existingSecret is required with gitServer.enabled unless tls.certManager.enabled" .Values.gitServer.tls.existingSecret -}}
{{- end -}}
{{- end -}}
