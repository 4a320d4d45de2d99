#!/usr/bin/env bash
# Runs the whole set of the benchmarks of docs/performance.md ("Where each benchmark stands against
# its target"), one after the other at one commit: builds the release benchmark programs and the
# lean site binary, then runs each with the documented command and keeps its output.
#
# Run it on an otherwise idle machine: the benchmarks print ratios to baselines measured in the
# same run, but the whole federation shares the machine's cores with whatever else runs. It takes
# about 15 minutes on two cores once built (a cold release build adds about 15).
#
# Each benchmark has BENCH_ALL_DEADLINE_S seconds (1800 by default) to finish; one that has not
# is stopped and the script fails.
#
# Usage: scripts/bench-all.sh [--list] [OUT_DIR]
#   --list    print the set, one benchmark a line (name, then the command), and exit.
#   OUT_DIR   where each benchmark's output is written, as NAME.txt (default:
#             target/bench-all/<commit>).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# Name, then the command: leading NAME=VALUE words are the benchmark's environment.
SET='fanout-100 bench-fanout 100 20
fanout-1000 bench-fanout 1000 5
intake bench-intake 16 20
status-scale bench-status-scale 10000 30
scale BENCH_IDLE_SECS=5 bench-scale 10 100 1000
e2e bench-e2e 20 1 2
site-footprint bench-site-footprint 60
idle bench-idle 256 4 10 --converge --baseline 64x4'

case "${1:-}" in
    --list)
        printf '%s\n' "$SET"
        exit 0
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "bench-all: unknown option $1 (see --help)" >&2
        exit 2
        ;;
esac

out="${1:-target/bench-all/$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
mkdir -p "$out"
bin="${CARGO_TARGET_DIR:-target}/release"
deadline="${BENCH_ALL_DEADLINE_S:-1800}"
[[ "$deadline" =~ ^[1-9][0-9]*$ ]] || {
    echo "bench-all: BENCH_ALL_DEADLINE_S must be a whole number of seconds, not '$deadline'" >&2
    exit 2
}

echo "== building the benchmark programs (release) and the lean site binary"
cargo build --release --locked -p maestro-tests --bins >&2
site_bin="$(bash scripts/build-site.sh --lean | tail -n 1)"

while read -r name rest; do
    read -ra words <<<"$rest"
    env_vars=("MAESTRO_SITE_BIN=$site_bin")
    while [[ "${words[0]}" == *=* ]]; do
        env_vars+=("${words[0]}")
        words=("${words[@]:1}")
    done
    program="$bin/${words[0]}"
    echo "== $name: ${env_vars[*]:1} ${words[*]} (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    status=0
    timeout "$deadline" env "${env_vars[@]}" "$program" "${words[@]:1}" </dev/null >"$out/$name.txt" 2>&1 ||
        status=$?
    tail -n 12 "$out/$name.txt"
    if ((status == 124)); then
        echo "bench-all: $name did not finish within $deadline s; its output is in $out/$name.txt" >&2
        exit 1
    elif ((status != 0)); then
        echo "bench-all: $name exited $status; its output is in $out/$name.txt" >&2
        exit 1
    fi
done <<<"$SET"
echo "== every benchmark's output is in $out"
