#!/usr/bin/env bash
# Makes Debian's Prometheus available for the dashboards test (tests/tests/dashboards.rs), which
# starts its own instance on a loopback port with its own config and data directory. Installs the
# package (quietly, non-interactively) only when `prometheus` is missing; idempotent. The package's
# own service is not used (the test never talks to it).
set -euo pipefail

if ! command -v prometheus >/dev/null 2>&1; then
    command -v apt-get >/dev/null || { echo "prometheus.sh: install Prometheus by hand" >&2; exit 1; }
    echo "prometheus.sh: apt-get install -y prometheus"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # No service start from a package script in a container without an init system.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v prometheus >/dev/null || { echo "prometheus.sh: prometheus is still missing" >&2; exit 1; }
echo "prometheus.sh: ready: $(prometheus --version 2>&1 | head -1)"
