#!/usr/bin/env bash
# Runs every check and test of Maestro on a fresh machine: formatting, clippy (-D warnings), the
# Helm chart checks (scripts/helm-check.sh), the Rust unit, contract and end-to-end tests (with
# real HTTPS and SSH Git servers on loopback, a real ColonyOS server with PostgreSQL through
# scripts/colonies.sh, and a real Prometheus), the container images and compose files
# (scripts/images.sh, scripts/compose-check.sh), and the ColonyOS conformance suite (pycolonies in a
# venv it creates). Self-sufficient: it installs what the tests need and fails loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# A one-shot build: incremental artifacts would only cost disk and time.
export CARGO_INCREMENTAL=0
mkdir -p target
# The Docker tests start a daemon through scripts/docker.sh; stop it (only if they started it) at the end.
trap 'bash scripts/docker.sh stop >/dev/null 2>&1 || true' EXIT

# What the tests need from the machine is installed and built in the background while the Rust code
# is formatted and linted: the installs mostly wait on downloads, and the ColonyOS build takes the
# cores clippy leaves idle. Its output is printed once it is done.
provision() {
    echo "== Docker Engine for the Docker reconciler tests (installs and starts it when missing)"
    bash scripts/docker.sh
    echo "== nginx, fcgiwrap, sshd, ssh and git for the Git transport tests (installs them when missing)"
    bash scripts/git-servers.sh
    echo "== iproute2 and iptables for the multi-host test (installs them when missing)"
    bash scripts/net-tools.sh
    echo "== Prometheus for the dashboards test (installs it when missing)"
    bash scripts/prometheus.sh
    echo "== the real ColonyOS server (colonies v1.9.12) for the interoperability tests (builds it when not cached)"
    bash scripts/colonies.sh build
    echo "== the venv of the ColonyOS conformance suite (pycolonies, pytest)"
    bash scripts/conformance.sh --prepare
}
echo "== the machine's tools, the ColonyOS server and the conformance venv, in the background (target/provision-output.txt)"
provision >target/provision-output.txt 2>&1 &
provision_pid=$!
trap 'kill "$provision_pid" 2>/dev/null || true; bash scripts/docker.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The rules of a build without the Docker reconciler are unit-tested in the default build
# (site-agent/src/reconcilers.rs); this checks that such a build compiles, tests included.
echo "== the site binary without the Docker reconciler (site-agent --no-default-features): clippy"
cargo clippy -p site-agent --no-default-features --all-targets --locked -- -D warnings

echo "== the machine's tools, the ColonyOS server and the conformance venv (started before clippy)"
provision_status=0
wait "$provision_pid" || provision_status=$?
cat target/provision-output.txt
if ((provision_status != 0)); then
    echo "installing or building what the tests need failed (status $provision_status)" >&2
    exit 1
fi
trap 'bash scripts/docker.sh stop >/dev/null 2>&1 || true' EXIT

# After colonies.sh: the chart renderer is built with the Go toolchain that step installed. The
# check mostly waits on downloads (a venv with the Kubernetes client), so it runs in the background
# while the Rust tests build and run; its result is checked right after them.
echo "== Helm charts, rendered and checked without Helm (Go templates and the Kubernetes API types), in the background"
bash scripts/helm-check.sh >target/helm-check-output.txt 2>&1 &
helm_pid=$!
trap 'kill "$helm_pid" 2>/dev/null || true; bash scripts/docker.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo test (scripts/test-lanes.sh: every test binary of the workspace, two at a time)"
bash scripts/test-lanes.sh target/test-output.txt

echo "== Helm charts (the check started before cargo test)"
if wait "$helm_pid"; then
    tail -n 1 target/helm-check-output.txt
else
    cat target/helm-check-output.txt
    echo "the Helm chart check failed" >&2
    exit 1
fi

echo "== container images from the debug binaries, and the compose files (scripts/images.sh, scripts/compose-check.sh)"
bash scripts/images.sh --profile debug
bash scripts/compose-check.sh

echo "== ColonyOS conformance (pycolonies)"
# The server binary the test build made (building it alone would pick other features and rebuild).
COLONY_SERVER_BIN="$PWD/target/debug/colony-server" bash scripts/conformance.sh 2>&1 |
    tee target/conformance-output.txt

# One closing line over both suites.
count() { grep -Eo "$1" "$2" | awk '{s+=$1} END {print s+0}' || true; }
rust_passed=$(count '[0-9]+ passed;' target/test-output.txt)
rust_failed=$(count '[0-9]+ failed;' target/test-output.txt)
py_passed=$(grep -E '^=+ .* in [0-9.]+s' target/conformance-output.txt | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}' || true)
py_failed=$(grep -E '^=+ .* in [0-9.]+s' target/conformance-output.txt | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}' || true)
echo "tests: $((rust_passed + py_passed)) passed, $((rust_failed + py_failed)) failed"
