#!/usr/bin/env bash
# Builds `maestro-site` for field installs and the site images, and prints the binary's path.
#
# The `site` profile (root Cargo.toml: built for size, link-time optimised, stripped), linked
# statically against the C library and not position-independent: an idle site's resident memory
# is mostly the pages of its code, and this way no shared library is mapped beside it and no
# relocation is applied at start-up (docs/performance.md, "Site footprint"). The binary resolves
# host names from /etc/hosts and DNS (the C library's built-in `files` and `dns` sources) and
# needs no library on the host.
#
# Usage: scripts/build-site.sh [--lean] [CARGO_ARGS...]
#   --lean     without the Docker reconciler (`--no-default-features`): a site that runs native
#              processes and files only.
# Output: <target dir>/<host triple>/site/maestro-site (CARGO_TARGET_DIR is honoured); the path
# is the last line printed on stdout, cargo's output goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
features=()
if [[ "${1:-}" == --lean ]]; then
    features=(--no-default-features)
    shift
fi
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi
host="$(rustc -vV | sed -n 's/^host: //p')"
[[ -n "$host" ]] || { echo "build-site.sh: ERROR: no host triple from rustc -vV" >&2; exit 1; }
# --target keeps these flags off the build scripts and procedural macros, which run on this host.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --locked --profile site -p site-agent --bin maestro-site --target "$host" \
    "${features[@]}" "$@" >&2
echo "${CARGO_TARGET_DIR:-$ROOT/target}/$host/site/maestro-site"
