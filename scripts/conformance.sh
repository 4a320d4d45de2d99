#!/usr/bin/env bash
# Conformance of the embedded colony server against the independent Python client pycolonies.
#
# Creates target/conformance-venv when missing (python3 -m venv + pip install -r
# colony/conformance/requirements.txt), builds `colony-server` (unless COLONY_SERVER_BIN already
# names a built one), runs the pytest suite in colony/conformance with COLONY_SERVER_BIN set, and
# exits with pytest's status. Fails loudly, never skips, when Python, venv or pip is unavailable.
# Extra arguments go to pytest. `conformance.sh --prepare` only makes the venv ready and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "conformance: $*" >&2
    exit 1
}

VENV=target/conformance-venv
REQS=colony/conformance/requirements.txt

command -v python3 >/dev/null 2>&1 || die "python3 is required (Python 3.11 with venv and pip)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
    die "python3 >= 3.9 is required, found $(python3 --version 2>&1)"

# A venv is reused only while it matches the pinned requirements; a stamp records what it holds.
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
    echo "== creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || die "pip is not available in $VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQS" ||
        die "pip install -r $REQS failed"
    echo "$want" >"$STAMP"
fi
"$VENV/bin/python" -c 'import pycolonies, pytest' ||
    die "pycolonies or pytest is not importable from $VENV"
if [[ "${1:-}" == "--prepare" ]]; then
    echo "== $VENV is ready"
    exit 0
fi

if [[ -n "${COLONY_SERVER_BIN:-}" ]]; then
    echo "== the server binary given: $COLONY_SERVER_BIN"
else
    echo "== cargo build -p colony --bin colony-server"
    cargo build -p colony --bin colony-server
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    COLONY_SERVER_BIN="$target_dir/debug/colony-server"
fi
export COLONY_SERVER_BIN
[[ -x "$COLONY_SERVER_BIN" ]] || die "no server binary at $COLONY_SERVER_BIN"

echo "== pytest colony/conformance"
set +e
export PYTHONDONTWRITEBYTECODE=1
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra colony/conformance "$@"
status=$?
set -e
if [[ $status -ne 0 ]]; then
    echo "conformance: pytest failed with status $status" >&2
fi
exit "$status"
