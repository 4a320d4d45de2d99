#!/usr/bin/env bash
# Runs every check and test of Maestro on a fresh machine: formatting, clippy (-D warnings), the
# Rust unit, contract and end-to-end tests, and the ColonyOS conformance suite (pycolonies in a
# venv it creates). Self-sufficient: it installs what the tests need and fails loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
mkdir -p target

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked 2>&1 | tee target/test-output.txt

echo "== ColonyOS conformance (pycolonies)"
bash scripts/conformance.sh 2>&1 | tee target/conformance-output.txt

# One closing line over both suites.
rust_passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
rust_failed=$(grep -Eo '[0-9]+ failed;' target/test-output.txt | awk '{s+=$1} END {print s+0}')
py_passed=$(grep -Eo '[0-9]+ passed' target/conformance-output.txt | tail -1 | awk '{print $1+0}')
py_failed=$(grep -Eo '[0-9]+ failed' target/conformance-output.txt | tail -1 | awk '{print $1+0}')
echo "tests: $((rust_passed + ${py_passed:-0})) passed, $((rust_failed + ${py_failed:-0})) failed"
