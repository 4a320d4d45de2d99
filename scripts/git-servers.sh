#!/usr/bin/env bash
# Makes the programs the Git transport tests start available: nginx, fcgiwrap and git's
# git-http-backend (an HTTPS Git server), openssh-server and openssh-client (an SSH Git server
# and the client the transport runs), and git. Installs Debian's packages (quietly,
# non-interactively) only for what is missing; idempotent. Starts nothing: the tests start
# their own servers (maestro-testkit's git_servers) on loopback ports and stop them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/target"
GIT_HTTP_BACKEND=/usr/lib/git-core/git-http-backend

say() { echo "git-servers.sh: $*"; }
die() {
    echo "git-servers.sh: ERROR: $*" >&2
    exit 1
}

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }

mkdir -p "$TARGET"
# One run at a time (parallel test binaries share apt).
exec 9>"$TARGET/git-servers.sh.lock"
flock -w 600 9 || die "another git-servers.sh run holds $TARGET/git-servers.sh.lock"

missing=()
have nginx || missing+=(nginx-light)
have fcgiwrap || missing+=(fcgiwrap)
have sshd || missing+=(openssh-server)
{ have ssh && have ssh-keygen; } || missing+=(openssh-client)
{ have git && [[ -x "$GIT_HTTP_BACKEND" ]]; } || missing+=(git)

if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    say "apt-get install -y ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

for program in nginx fcgiwrap sshd ssh ssh-keygen git; do
    have "$program" || die "$program is still missing"
done
[[ -x "$GIT_HTTP_BACKEND" ]] || die "$GIT_HTTP_BACKEND is still missing"
say "ready: nginx, fcgiwrap, git-http-backend, sshd, ssh, ssh-keygen, git"
