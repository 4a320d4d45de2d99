{{- define "maestro-site.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "maestro-site.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else if contains (include "maestro-site.name" .) .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "maestro-site.name" .) | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "maestro-site.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maestro-site.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: site-agent
{{- end -}}

{{- define "maestro-site.labels" -}}
{{ include "maestro-site.selectorLabels" . }}
app.kubernetes.io/part-of: maestro
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
maestro.io/domain: {{ .Values.domain | quote }}
maestro.io/site: {{ .Values.site | quote }}
{{- end -}}

{{- define "maestro-site.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The site's identity (docs/security.md, "Certificates"). */}}
{{- define "maestro-site.spiffeId" -}}
{{- printf "spiffe://%s/domain/%s/site/%s" (required "trustDomain is required" .Values.trustDomain) (required "domain is required" .Values.domain) (required "site is required" .Values.site) -}}
{{- end -}}

{{- define "maestro-site.tlsSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "maestro-site.fullname" .) -}}
{{- else -}}
{{- required "tls.existingSecret is required unless tls.certManager.enabled or tls.insecure" .Values.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* The file names maestroctl pki issue gives the site's certificate and key. */}}
{{- define "maestro-site.certFile" -}}
{{- printf "site-%s-%s" .Values.domain .Values.site -}}
{{- end -}}

{{/* The site agent's config (site-agent/src/config.rs), as JSON. */}}
{{- define "maestro-site.config" -}}
{{- $tls := dict "insecure" true -}}
{{- if not .Values.tls.insecure -}}
{{- $f := include "maestro-site.certFile" . -}}
{{- $tls = dict "ca" "/etc/maestro/tls/ca.pem" "cert" (printf "/etc/maestro/tls/%s.pem" $f) "key" (printf "/etc/maestro/tls/%s-key.pem" $f) "reload_secs" (int .Values.tls.reloadSecs) -}}
{{- with .Values.tls.serverName }}{{- $_ := set $tls "server_name" . -}}{{- end -}}
{{- end -}}
{{- $git := dict -}}
{{- with .Values.git.username }}{{- $_ := set $git "username" . -}}{{- end -}}
{{- if .Values.git.passwordKey }}{{- $_ := set $git "password_file" "/etc/maestro/git/password" -}}{{- end -}}
{{- if .Values.git.caKey }}{{- $_ := set $git "ca" "/etc/maestro/git/ca.pem" -}}{{- end -}}
{{- if .Values.git.sshKeyKey }}{{- $_ := set $git "ssh_key" "/etc/maestro/git/ssh-key" -}}{{- end -}}
{{- if .Values.git.knownHostsKey }}{{- $_ := set $git "known_hosts" "/etc/maestro/git/known_hosts" -}}{{- end -}}
{{- $c := dict "domain" (required "domain is required" .Values.domain) "site" (required "site is required" .Values.site) "data_dir" "/var/lib/maestro-site" "git_remote" (required "git.remote is required" .Values.git.remote) "git" $git "branch" .Values.git.branch "sync_interval_ms" (int .Values.git.syncIntervalMs) "log_server" (required "logServer is required" .Values.logServer) "tls" $tls "signing" (dict "keys" .Values.signing.keys "threshold" (int .Values.signing.threshold)) "reconcilers" .Values.reconcilers -}}
{{- if eq .Values.colony.mode "external" -}}
{{- $_ := set $c "colony_url" (required "colony.external.url is required with colony.mode external" .Values.colony.external.url) -}}
{{- end -}}
{{- if .Values.metrics.enabled }}{{- $_ := set $c "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) -}}{{- end -}}
{{- toJson (mergeOverwrite $c .Values.extraConfig) -}}
{{- end -}}
