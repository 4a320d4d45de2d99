#!/usr/bin/env bash
# Runs every check and test of the workspace on a fresh machine. Self-sufficient: it needs only
# the Rust toolchain and installs nothing else for the current suite.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked 2>&1 | tee target/test-output.txt
# Summarise into one line that any CI reader understands.
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' target/test-output.txt | awk '{s+=$1} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
