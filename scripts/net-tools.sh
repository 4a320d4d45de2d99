#!/usr/bin/env bash
# Makes the programs the multi-host test needs available: iproute2 (`ip netns`, veth, `ss`) and
# iptables (the sites' NAT). Installs Debian's packages (quietly, non-interactively) only for what
# is missing; idempotent. The test creates and deletes its own namespaces.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] || [[ -x "/sbin/$1" ]]; }

missing=()
{ have ip && have ss; } || missing+=(iproute2)
have iptables || missing+=(iptables)
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || { echo "net-tools.sh: install ${missing[*]} by hand" >&2; exit 1; }
    echo "net-tools.sh: apt-get install -y ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for program in ip ss iptables; do
    have "$program" || { echo "net-tools.sh: $program is still missing" >&2; exit 1; }
done
echo "net-tools.sh: ready: ip, ss, iptables"
