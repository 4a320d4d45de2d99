#!/usr/bin/env bash
# Builds every test binary of the workspace (`cargo test --workspace --no-run`) and runs them in
# two lanes at once: the end-to-end binaries of the `maestro-tests` package in one, every other
# crate's tests in the other. Most of the suite's time is waiting (links held down, keep-alives,
# the real ColonyOS server's cron, containers starting), so two binaries at a time on 2 cores
# finish sooner than one; inside a binary the tests run in parallel as under `cargo test`, and the
# tests share nothing across binaries but uniquely named resources.
#
# Each binary runs from its package's directory, as `cargo test` runs it, under a 15-minute guard.
# Its output goes to target/test-lanes/<lane>.txt; a line per binary (lane, result, seconds) is
# printed as it ends, and both lanes' outputs, in full, at the end. The doc tests run after the
# lanes. Exits non-zero when any binary failed, naming each. Usage: scripts/test-lanes.sh OUTPUT
# (OUTPUT receives everything, for the suite's closing count). A failure ends with the lines that
# name the failing or hung tests, each under the binary it ran in.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:?usage: scripts/test-lanes.sh OUTPUT}"
dir=target/test-lanes
rm -rf "$dir"
mkdir -p "$dir"

echo "== cargo test --workspace --no-run"
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics >"$dir/build.json"

# One line per test binary: lane, package directory, source file, executable (tab-separated).
python3 - "$dir/build.json" >"$dir/binaries.tsv" <<'EOF'
import json, os, sys

for line in open(sys.argv[1], encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("profile", {}).get("test"):
        continue
    exe = m.get("executable")
    if not exe:
        continue
    package_dir = os.path.dirname(m["manifest_path"])
    src = os.path.relpath(m["target"]["src_path"], package_dir)
    lane = "e2e" if os.path.basename(package_dir) == "tests" and "test" in m["target"]["kind"] else "crates"
    print("\t".join([lane, package_dir, src, exe]))
EOF
[[ -s "$dir/binaries.tsv" ]] || { echo "test-lanes: cargo built no test binary" >&2; exit 1; }

# Runs the binaries of lane $1 one after another; records each failure in $dir/$1.failed.
run_lane() {
    local lane="$1" package_dir src exe start status
    : >"$dir/$lane.failed"
    : >"$dir/$lane.txt"
    while IFS=$'\t' read -r l package_dir src exe; do
        [[ "$l" == "$lane" ]] || continue
        start=$SECONDS
        {
            echo "     Running $src ($exe)"
            status=0
            (cd "$package_dir" && CARGO_MANIFEST_DIR="$package_dir" \
                timeout --kill-after=30 900 "$exe") 2>&1 || status=$?
            echo
        } >>"$dir/$lane.txt"
        if ((status == 0)); then
            echo "test-lanes: $lane: ok     $src in $package_dir ($((SECONDS - start)) s)"
        else
            echo "test-lanes: $lane: FAILED $src in $package_dir ($((SECONDS - start)) s, status $status)"
            echo "$package_dir/$src" >>"$dir/$lane.failed"
        fi
    done <"$dir/binaries.tsv"
}

echo "== the test binaries, in two lanes ($(wc -l <"$dir/binaries.tsv") binaries)"
started=$SECONDS
run_lane e2e &
e2e_pid=$!
run_lane crates &
crates_pid=$!
trap 'kill "$e2e_pid" "$crates_pid" 2>/dev/null || true' EXIT
wait "$e2e_pid" || true
wait "$crates_pid" || true
trap - EXIT
echo "test-lanes: both lanes done in $((SECONDS - started)) s"

echo "== cargo test --workspace --doc"
doc_status=0
cargo test --workspace --locked --doc >"$dir/doc.txt" 2>&1 || doc_status=$?

cat "$dir/crates.txt" "$dir/e2e.txt" "$dir/doc.txt" >"$out"
cat "$out"

failed=$(cat "$dir/e2e.failed" "$dir/crates.failed")
if [[ -n "$failed" || $doc_status -ne 0 ]]; then
    echo "test-lanes: these test binaries failed:" >&2
    [[ -z "$failed" ]] || echo "$failed" | sed 's/^/  /' >&2
    ((doc_status == 0)) || echo "  the doc tests (status $doc_status)" >&2
    # The lines that say which test failed or hung, last, where a log's tail shows them.
    echo "test-lanes: what the failing tests said (the full output is above):" >&2
    grep -h -E 'has been running for over|panicked at|^test .* FAILED$|^     Running ' \
        "$dir/crates.txt" "$dir/e2e.txt" "$dir/doc.txt" |
        grep -B1 -v '^     Running ' | grep -v '^--$' | tail -n 60 | sed 's/^/  /' >&2 || true
    exit 1
fi
