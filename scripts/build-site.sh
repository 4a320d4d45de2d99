#!/usr/bin/env bash
# Builds `maestro-site` for field installs and the site images, and prints the binary's path.
#
# The `site` profile (root Cargo.toml: built for size, link-time optimised, stripped), linked
# statically against musl, the small C library, and not position-independent: an idle site's
# resident memory is mostly the pages of its code, and this way no shared library is mapped beside
# it, no relocation is applied at start-up, and the code is about 0.9 MiB smaller than with a static
# glibc (docs/performance.md, "Site footprint"). The binary resolves host names from /etc/hosts and
# DNS (musl's resolver) and needs no library on the host. The profile aborts on a panic (no
# unwinding code): run the binary under a supervisor that starts it again (compose's `restart`, a
# systemd unit's `Restart=`); the agent reports the panic to its domain when it starts again.
#
# Needs Rust's `<arch>-unknown-linux-musl` target and a musl C compiler (`musl-gcc`) for the C the
# agent links (libgit2, zlib, ring): when either is missing it is installed (`rustup target add`,
# Debian's `musl-tools` with apt-get), or the script stops and says what to install.
#
# Usage: scripts/build-site.sh [--lean] [--gnu] [CARGO_ARGS...]
#   --lean     without the Docker reconciler (`--no-default-features`): a site that runs native
#              processes and files only.
#   --gnu      link glibc statically instead of musl (the build before musl; about 1 MiB more
#              resident code, and no musl tools needed).
# Output: <target dir>/<target triple>/site/maestro-site (CARGO_TARGET_DIR is honoured); the path
# is the last line printed on stdout, cargo's output goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
features=()
libc=musl
while (($#)); do
    case "$1" in
        --lean) features=(--no-default-features); shift ;;
        --gnu) libc=gnu; shift ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) break ;;
    esac
done
say() { echo "build-site.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand (or build with --gnu)"
    apt-get update -qq || die "apt-get update failed"
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}
host="$(rustc -vV | sed -n 's/^host: //p')"
[[ -n "$host" ]] || die "no host triple from rustc -vV"
# Flags for the target only: --target keeps them off the build scripts and procedural macros,
# which run on this host. The musl targets link statically by default.
flags="-C relocation-model=static"
if [[ "$libc" == gnu ]]; then
    target="$host"
    flags="$flags -C target-feature=+crt-static"
else
    target="${host%%-*}-unknown-linux-musl"
    if [[ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]]; then
        command -v rustup >/dev/null || die "Rust's $target target is missing and there is no rustup to add it (or build with --gnu)"
        say "rustup target add $target"
        rustup target add "$target" >&2 || die "rustup target add $target failed (or build with --gnu)"
    fi
    command -v musl-gcc >/dev/null || apt_install musl-tools
    # The C compiler for the C crates of this target (the cc crate's variable for it).
    export "CC_${target//-/_}=musl-gcc"
fi
RUSTFLAGS="${RUSTFLAGS:-} $flags" \
    cargo build --locked --profile site -p site-agent --bin maestro-site --target "$target" \
    "${features[@]}" "$@" >&2
echo "${CARGO_TARGET_DIR:-$ROOT/target}/$target/site/maestro-site"
