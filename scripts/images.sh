#!/usr/bin/env bash
# Builds the container image of each component with the local Docker Engine, without any registry:
#
#   1. two base images made from this host (Debian 12) with `docker import`:
#        local/maestro-base-site:TAG  only what the site agent needs at run time: the C libraries
#                                     `ldd` lists for maestro-site (none for the release build,
#                                     which is linked statically), CA certificates, /etc/passwd
#                                     with `maestro` (10001), a static busybox (its `sh` runs the
#                                     shell commands of process blueprints)
#        local/maestro-base:TAG       the same for every binary, plus the OpenSSH client that Git
#                                     over ssh:// runs (domain pushes, sites on SSH)
#   2. `docker build --target X` of deploy/Dockerfile for each target (maestro, domain,
#      log-server, site, site-ssh, cli) over a build context holding only the binaries;
#   3. a smoke test of each image with `--network none`: `--version` exits 0; maestro and the site
#      agent start with a tiny config, print their serving line and answer /metrics on the
#      container's loopback; the site image runs `/bin/sh -c` as uid 10001; each container is
#      removed by the id this script got for it;
#   4. a table of the image sizes.
#
# Usage: scripts/images.sh [--profile release|debug] [--tag TAG] [--build] [--no-strip] [--no-smoke]
#   --profile  which binaries: target/<profile>/ (CARGO_TARGET_DIR is honoured). release (default)
#              runs `cargo build --release` for four binaries and `scripts/build-site.sh` for
#              maestro-site (built for size and linked statically against musl: less of it is
#              resident at a site; target/<arch>-unknown-linux-musl/site/), each a no-op when
#              fresh; debug uses the binaries `cargo test` built and builds only the missing
#              ones, or all of them with --build.
#   --tag      image tag; default the workspace version, with -debug appended for debug builds.
#   --no-strip release binaries are copied into the images without their symbol table by default
#              (`strip`); this keeps it. Debug binaries are never stripped.
#   --no-smoke skip step 3.
# Environment: IMAGES_JOBS (cargo -j, default 1). Needs root for apt-get when packages are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$ROOT/target/images"
UID_GID=10001
PROFILE=release
TAG=""
BUILD=0
STRIP=1
SMOKE=1

say() { echo "images.sh: $*"; }
die() {
    echo "images.sh: ERROR: $*" >&2
    exit 1
}

while (($#)); do
    case "$1" in
    --profile) PROFILE="${2:?--profile needs release or debug}"; shift 2 ;;
    --profile=*) PROFILE="${1#*=}"; shift ;;
    --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
    --tag=*) TAG="${1#*=}"; shift ;;
    --build) BUILD=1; shift ;;
    --no-strip) STRIP=0; shift ;;
    --no-smoke) SMOKE=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ "$PROFILE" == release || "$PROFILE" == debug ]] || die "--profile must be release or debug"
[[ "$PROFILE" == debug ]] && STRIP=0

VERSION="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
[[ -n "$VERSION" ]] || die "no version in Cargo.toml [workspace.package]"
if [[ -z "$TAG" ]]; then
    TAG="$VERSION"
    [[ "$PROFILE" == debug ]] && TAG="$VERSION-debug"
fi

# binary, cargo package, Dockerfile target(s), image(s)
BINARIES=(maestro maestro-domain maestro-log-server maestro-site maestroctl)
declare -A PACKAGE=([maestro]=maestro [maestro-domain]=domain-orchestrator
    [maestro-log-server]=log-server [maestro-site]=site-agent [maestroctl]=maestro-cli)
TARGETS=(maestro domain log-server site site-ssh cli)
declare -A IMAGE=([maestro]=local/maestro [domain]=local/maestro-domain
    [log-server]=local/maestro-log-server [site]=local/maestro-site
    [site-ssh]=local/maestro-site-ssh [cli]=local/maestroctl)
declare -A BINARY=([maestro]=maestro [domain]=maestro-domain [log-server]=maestro-log-server
    [site]=maestro-site [site-ssh]=maestro-site [cli]=maestroctl)
BASE=local/maestro-base
BASE_SITE=local/maestro-base-site
BUSYBOX_APPLETS=(sh ash cat cp echo env false grep id kill ls mkdir mv ps rm sleep test true wget)

STARTED=()
cleanup() {
    local id
    for id in "${STARTED[@]}"; do
        docker rm -f "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK/rootfs" "$WORK/rootfs.tar" "$WORK/smoke"
}
trap cleanup EXIT

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
    if [[ "$APT_UPDATED" == 0 ]]; then
        apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

ensure_tools() {
    local missing=()
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
    [[ -s /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
    command -v ssh >/dev/null || missing+=(openssh-client)
    ((STRIP)) && ! command -v strip >/dev/null && missing+=(binutils)
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

# 0. the engine (scripts/docker.sh reuses one that answers, else starts its own)
bash scripts/docker.sh >/dev/null || die "scripts/docker.sh could not provide a Docker Engine"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
# The legacy builder: the daemon (20.10) has no BuildKit front-end reachable without buildx.
export DOCKER_BUILDKIT=0
ensure_tools

# 1. the binaries
# Where cargo puts binary $1 of this run's profile: with --profile release, maestro-site comes from
# scripts/build-site.sh (the path it printed), the others from release.
SITE_BIN=""
built() {
    if [[ "$PROFILE" == release && "$1" == maestro-site ]]; then
        echo "$SITE_BIN"
    else
        echo "$TARGET_DIR/$PROFILE/$1"
    fi
}
cargo_build() {
    local args=() site=0 b
    for b in "$@"; do
        if [[ "$PROFILE" == release && "$b" == maestro-site ]]; then
            site=1
        else
            args+=(-p "${PACKAGE[$b]}" --bin "$b")
        fi
    done
    local prof=()
    [[ "$PROFILE" == release ]] && prof=(--release)
    if ((${#args[@]})); then
        say "cargo build ${prof[*]} ${args[*]}"
        cargo build --locked -j "${IMAGES_JOBS:-1}" "${prof[@]}" "${args[@]}" >&2 || die "cargo build failed"
    fi
    if ((site)); then
        say "scripts/build-site.sh"
        SITE_BIN="$(bash scripts/build-site.sh -j "${IMAGES_JOBS:-1}" | tail -n1)" \
            || die "scripts/build-site.sh failed"
    fi
}
if [[ "$PROFILE" == release || "$BUILD" == 1 ]]; then
    cargo_build "${BINARIES[@]}"
else
    missing=()
    for b in "${BINARIES[@]}"; do [[ -x "$(built "$b")" ]] || missing+=("$b"); done
    if ((${#missing[@]})); then cargo_build "${missing[@]}"; fi
fi
for b in "${BINARIES[@]}"; do
    [[ -x "$(built "$b")" ]] || die "$(built "$b") is missing"
done

# 2. the build context: only target/images/context/<profile>/<binary>
CONTEXT="$WORK/context"
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/$PROFILE"
for b in "${BINARIES[@]}"; do
    src="$(built "$b")"
    if ((STRIP)); then
        strip -o "$CONTEXT/$PROFILE/$b" "$src"
    else
        ln "$src" "$CONTEXT/$PROFILE/$b" 2>/dev/null || cp "$src" "$CONTEXT/$PROFILE/$b"
    fi
done

# 3. the base images
# Copies each shared library the given executables load (ldd, recursively resolved by ldd
# itself) to the same path in the root file system $1.
copy_libraries() {
    local root="$1" lib out
    shift
    local libs
    libs="$(for exe in "$@"; do
        # A statically linked executable (the release maestro-site) loads no library.
        out="$(ldd "$exe" 2>&1)" || { [[ "$out" == *"not a dynamic executable"* ]] && continue; exit 1; }
        awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
    done | sort -u)" || die "ldd failed"
    for lib in $libs; do
        [[ -e "$lib" ]] || die "ldd named $lib, which does not exist"
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

make_base() {
    local ref="$1" with_ssh="$2"
    shift 2
    local root="$WORK/rootfs"
    rm -rf "$root"
    mkdir -p "$root"/{bin,etc/ssl/certs,etc/maestro,tmp,usr/local/bin,var/lib/maestro,var/lib/maestro-site,srv/git,root}
    cp /bin/busybox "$root/bin/busybox"
    for a in "${BUSYBOX_APPLETS[@]}"; do ln -s busybox "$root/bin/$a"; done
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/false
maestro:x:$UID_GID:$UID_GID:maestro:/var/lib/maestro:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<EOF
root:x:0:
maestro:x:$UID_GID:
nogroup:x:65534:
EOF
    printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
    local executables=("$@")
    if [[ "$with_ssh" == 1 ]]; then
        cp -L "$(command -v ssh)" "$root/bin/ssh"
        executables+=("$(command -v ssh)")
    fi
    copy_libraries "$root" "${executables[@]}"
    chmod 1777 "$root/tmp"
    chown -R "$UID_GID:$UID_GID" "$root/var/lib/maestro" "$root/var/lib/maestro-site" "$root/srv/git"
    # A reproducible archive: an unchanged base keeps its image id, so the builds below reuse
    # their cached layers.
    tar --sort=name --mtime=@0 --numeric-owner -C "$root" -cf "$WORK/rootfs.tar" .
    rm -rf "$root"
    local sum
    sum="$(sha256sum "$WORK/rootfs.tar" | cut -d' ' -f1)"
    if [[ "$(docker image inspect -f '{{index .Config.Labels "maestro.base.sha256"}}' "$ref" 2>/dev/null)" == "$sum" ]]; then
        rm -f "$WORK/rootfs.tar"
        say "base image $ref unchanged"
        return 0
    fi
    docker import \
        --change 'ENV PATH=/usr/local/bin:/bin' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change "USER $UID_GID:$UID_GID" \
        --change "LABEL maestro.base.sha256=$sum" \
        --message "maestro base from the host, made by scripts/images.sh" \
        "$WORK/rootfs.tar" "$ref" >/dev/null || die "docker import of $ref failed"
    rm -f "$WORK/rootfs.tar"
    say "base image $ref"
}
make_base "$BASE_SITE:$TAG" 0 "$CONTEXT/$PROFILE/maestro-site"
all_bins=()
for b in "${BINARIES[@]}"; do all_bins+=("$CONTEXT/$PROFILE/$b"); done
make_base "$BASE:$TAG" 1 "${all_bins[@]}"

T_BASES=$SECONDS
# 4. the component images
for t in "${TARGETS[@]}"; do
    ref="${IMAGE[$t]}:$TAG"
    docker build --quiet --file deploy/Dockerfile --target "$t" \
        --build-arg "PROFILE=$PROFILE" --build-arg "BASE_TAG=$TAG" \
        --label "org.opencontainers.image.version=$VERSION" \
        --label "org.opencontainers.image.title=${BINARY[$t]}" \
        --tag "$ref" "$CONTEXT" >/dev/null 2>"$WORK/build-$t.log" \
        || { cat "$WORK/build-$t.log" >&2; die "docker build --target $t failed"; }
    say "image $ref (target $t)"
done
# Earlier builds of these images, untagged now (only images made over our bases carry the label).
docker image prune --force --filter "label=maestro.base.sha256" >/dev/null 2>&1 || true
T_IMAGES=$SECONDS

# 5. smoke tests, all with --network none (the container's own loopback only)
run_detached() {
    local id
    id="$(docker run --detach --network none "$@")" || die "docker run $* failed"
    STARTED+=("$id")
    echo "$id"
}
wait_for_log() {
    local id="$1" pattern="$2" what="$3"
    for _ in $(seq 1 150); do
        if docker logs "$id" 2>&1 | grep -q "$pattern"; then return 0; fi
        if [[ "$(docker inspect -f '{{.State.Running}}' "$id")" != true ]]; then
            docker logs "$id" 2>&1 | tail -n 20 >&2
            die "$what exited before printing '$pattern'"
        fi
        sleep 0.2
    done
    docker logs "$id" 2>&1 | tail -n 20 >&2
    die "$what did not print '$pattern' within 30 s"
}
stop_container() {
    local id="$1" code
    docker stop --time 10 "$id" >/dev/null
    code="$(docker inspect -f '{{.State.ExitCode}}' "$id")"
    docker rm "$id" >/dev/null
    [[ "$code" == 0 ]] || die "container ${id:0:12} exited with status $code after SIGTERM"
}
smoke() {
    local smoke="$WORK/smoke" t ref out
    rm -rf "$smoke"
    mkdir -p "$smoke/catalog"
    chmod -R a+rX "$smoke"
    for t in "${TARGETS[@]}"; do
        ref="${IMAGE[$t]}:$TAG"
        out="$(docker run --rm --network none "$ref" --version)" || die "$ref --version failed"
        [[ "$out" == *"$VERSION"* ]] || die "$ref --version printed '$out', not $VERSION"
        [[ "$(docker run --rm --network none --entrypoint /bin/id "$ref" -u)" == "$UID_GID" ]] \
            || die "$ref does not run as uid $UID_GID"
    done
    say "smoke: every image prints version $VERSION and runs as uid $UID_GID"

    cat >"$smoke/maestro.json" <<'EOF'
{"listen": "127.0.0.1:7200", "data_dir": "/var/lib/maestro", "catalog_dir": "/etc/maestro/catalog",
 "metrics_listen": "127.0.0.1:9464", "tls": {"insecure": true}}
EOF
    cat >"$smoke/site.json" <<'EOF'
{"domain": "smoke", "site": "smoke-1", "data_dir": "/var/lib/maestro-site",
 "git_remote": "/var/lib/maestro-site/none.git", "log_server": "http://127.0.0.1:7400",
 "metrics_listen": "127.0.0.1:9467", "tls": {"insecure": true}}
EOF
    chmod a+r "$smoke"/*.json
    local id
    id="$(run_detached -v "$smoke/maestro.json:/etc/maestro/maestro.json:ro" \
        -v "$smoke/catalog:/etc/maestro/catalog:ro" "${IMAGE[maestro]}:$TAG")"
    wait_for_log "$id" "maestro serving on 127.0.0.1:7200" "maestro"
    docker exec "$id" wget -qO- http://127.0.0.1:9464/metrics | grep -q 'service_name="maestro"' \
        || die "maestro's /metrics in its image has no service_name=\"maestro\" series"
    stop_container "$id"
    say "smoke: maestro serves in its image, answers /metrics and stops on SIGTERM"

    for t in site site-ssh; do
        id="$(run_detached -v "$smoke/site.json:/etc/maestro/site.json:ro" "${IMAGE[$t]}:$TAG")"
        wait_for_log "$id" "site agent serving on 127.0.0.1:" "$t"
        docker exec "$id" wget -qO- http://127.0.0.1:9467/metrics | grep -q 'service_name="site-agent"' \
            || die "$t's /metrics in its image has no service_name=\"site-agent\" series"
        stop_container "$id"
    done
    [[ "$(docker run --rm --network none --entrypoint /bin/sh "${IMAGE[site]}:$TAG" -c 'echo ok')" == ok ]] \
        || die "the site image cannot run /bin/sh -c"
    docker run --rm --network none --entrypoint /bin/ssh "${IMAGE[site-ssh]}:$TAG" -V >/dev/null 2>&1 \
        || die "the site-ssh image cannot run ssh"
    say "smoke: the site agent serves in both site images and answers /metrics; sh and ssh run"
    rm -rf "$smoke"
}
if ((SMOKE)); then smoke; fi
T_SMOKE=$SECONDS

# 6. sizes
human() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
echo
echo "| image | target | size |"
echo "| --- | --- | ---: |"
for ref in "$BASE_SITE:$TAG" "$BASE:$TAG"; do
    echo "| \`$ref\` | (base) | $(human "$(docker image inspect -f '{{.Size}}' "$ref")") |"
done
for t in "${TARGETS[@]}"; do
    ref="${IMAGE[$t]}:$TAG"
    echo "| \`$ref\` | $t | $(human "$(docker image inspect -f '{{.Size}}' "$ref")") |"
done
echo
say "done: profile $PROFILE, tag $TAG$( ((STRIP)) && echo ', binaries stripped') in $SECONDS s" \
    "(binaries and bases $T_BASES s, builds $((T_IMAGES - T_BASES)) s, smoke $((T_SMOKE - T_IMAGES)) s)"
