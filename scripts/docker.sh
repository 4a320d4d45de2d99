#!/usr/bin/env bash
# Makes a Docker Engine available on /var/run/docker.sock for the docker-reconciler tests, and
# the local images they use. Idempotent:
#   - an engine that already answers on the socket is reused as it is;
#   - otherwise Debian's docker.io (and busybox-static) is installed when dockerd is missing and
#     `dockerd --storage-driver vfs --iptables=false --bridge=none` is started in the background
#     (log: target/dockerd.log, pid: target/dockerd.pid), then the socket is awaited (60 s);
#   - images local/busybox:1 and local/busybox:2 (a busybox-static tree, /version = 1 or 2) are
#     built with `docker import` when missing. No registry is ever contacted.
# `docker.sh stop` stops the dockerd this script started (the pid in target/dockerd.pid) and
# nothing else.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/target"
SOCK=/var/run/docker.sock
PID_FILE="$TARGET/dockerd.pid"
LOG_FILE="$TARGET/dockerd.log"
WAIT_SECS=60
IMAGE=local/busybox
APPLETS=(sh echo sleep httpd cat ls env)

say() { echo "docker.sh: $*"; }
die() {
    echo "docker.sh: ERROR: $*" >&2
    exit 1
}

mkdir -p "$TARGET"

# The pid in the pid file, if it is a running dockerd.
our_dockerd() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]] || return 1
    echo "$pid"
}

stop_dockerd() {
    local pid
    if ! pid="$(our_dockerd)"; then
        say "no dockerd started by this script is running; nothing to stop"
        rm -f "$PID_FILE"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do
        [[ -d "/proc/$pid" ]] || break
        sleep 0.1
    done
    if [[ -d "/proc/$pid" ]]; then
        die "dockerd (pid $pid) did not stop within 30 s"
    fi
    rm -f "$PID_FILE"
    say "dockerd stopped"
}

engine_answers() {
    [[ -S "$SOCK" ]] && docker -H "unix://$SOCK" info >/dev/null 2>&1
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
    if [[ "$APT_UPDATED" == 0 ]]; then
        say "apt-get update"
        apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || die "apt-get install $* failed"
}

have_static_busybox() {
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1
}

ensure_packages() {
    local missing=()
    if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
        missing+=(docker.io)
    fi
    have_static_busybox || missing+=(busybox-static)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    command -v dockerd >/dev/null || die "dockerd still missing after installing docker.io"
    command -v docker >/dev/null || die "the docker CLI is still missing after installing docker.io"
    have_static_busybox || die "/bin/busybox is not a static busybox after installing busybox-static"
}

start_dockerd() {
    if engine_answers; then
        say "reusing the Docker Engine already answering on $SOCK"
        return 0
    fi
    ensure_packages
    local pid
    if pid="$(our_dockerd)"; then
        say "dockerd started earlier (pid $pid) is still starting; waiting"
    else
        say "starting dockerd --storage-driver vfs --iptables=false --bridge=none (log $LOG_FILE)"
        setsid dockerd --storage-driver vfs --iptables=false --bridge=none \
            </dev/null >>"$LOG_FILE" 2>&1 9>&- &
        pid=$!
        echo "$pid" >"$PID_FILE"
    fi
    local deadline=$((SECONDS + WAIT_SECS))
    until engine_answers; do
        if [[ ! -d "/proc/$pid" ]]; then
            tail -n 30 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "dockerd (pid $pid) exited; see $LOG_FILE"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$LOG_FILE" >&2 || true
            die "dockerd (pid $pid) did not answer on $SOCK within ${WAIT_SECS} s; see $LOG_FILE"
        fi
        sleep 0.2
    done
    say "dockerd (pid $pid) answers on $SOCK"
}

build_image() {
    local version="$1" ref="$IMAGE:$1"
    if docker -H "unix://$SOCK" image inspect "$ref" >/dev/null 2>&1; then
        say "image $ref present"
        return 0
    fi
    have_static_busybox || ensure_packages
    local dir
    dir="$(mktemp -d)"
    mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/www"
    cp /bin/busybox "$dir/bin/busybox"
    for applet in "${APPLETS[@]}"; do
        ln -s busybox "$dir/bin/$applet"
    done
    echo "$version" >"$dir/version"
    echo "busybox $version" >"$dir/www/index.html"
    echo "root:x:0:0:root:/:/bin/sh" >"$dir/etc/passwd"
    chmod 1777 "$dir/tmp"
    if ! tar -C "$dir" -c . | docker -H "unix://$SOCK" import \
        --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$ref" >/dev/null; then
        rm -rf "$dir"
        die "docker import of $ref failed"
    fi
    rm -rf "$dir"
    say "built image $ref"
}

case "${1:-start}" in
stop)
    stop_dockerd
    ;;
start | "")
    # One run at a time (parallel test binaries).
    exec 9>"$TARGET/docker.sh.lock"
    flock -w 120 9 || die "another docker.sh run holds $TARGET/docker.sh.lock"
    start_dockerd
    build_image 1
    build_image 2
    say "ready: $SOCK with $IMAGE:1 and $IMAGE:2"
    ;;
*)
    die "usage: $0 [start|stop]"
    ;;
esac
