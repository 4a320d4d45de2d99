#!/usr/bin/env bash
# Checks the compose deployment (deploy/compose/*.yaml and the files they mount) as far as it can
# be checked without pulling an image. Self-sufficient: installs docker-compose (Debian's 1.29,
# unless `docker compose` is there) and python3-yaml when missing.
#
#   1. `config` validation of each compose file and of the combinations an operator uses;
#   2. static checks of the resolved configurations (python, below): every bind-mounted host path
#      exists or is made by a documented step (deploy/pki, deploy/signing); every component config
#      parses and has only keys of the component's Rust config structs; every /etc/maestro path a
#      config names is mounted and, with a PKI made by the documented `maestroctl` commands, exists;
#      Prometheus scrapes exactly the components' metrics_listen ports and the collector's
#      exporter; the collector config parses and its pipelines use defined, configured receivers,
#      processors and exporters; OTLP endpoints point at the collector service and port; Grafana's
#      provisioning points at Prometheus and at a mounted dashboards directory; images default
#      to the workspace version and are never pulled; then a negative self-test breaks each of
#      those on purpose and expects the check to fail;
#   3. (unless --no-run) with the images of scripts/images.sh (tag --tag, default
#      <version>-debug) and a throwaway PKI, signing key and Git token made with the same commands
#      as deploy/compose/README.md: `up --no-start` of maestro, the domain and the site on network
#      `none` (compose creates the containers, networks and volumes; nothing is pulled), then each
#      container is run as compose made it (same image, command, environment, mounts and volumes)
#      with --network none: it must print its serving line and answer /metrics; then `down -v`.
# The observability services are only checked statically (their images are never pulled here).
#
# Usage: scripts/compose-check.sh [--tag TAG] [--no-run]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VERSION="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
TAG="$VERSION-debug"
RUN=1
PROJECT="maestro-check-$$"

say() { echo "compose-check.sh: $*"; }
die() {
    echo "compose-check.sh: ERROR: $*" >&2
    exit 1
}

while (($#)); do
    case "$1" in
    --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
    --tag=*) TAG="${1#*=}"; shift ;;
    --no-run) RUN=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
START=$SECONDS

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

# Tools: a compose implementation and PyYAML.
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
else
    command -v docker-compose >/dev/null || apt_install docker-compose
    COMPOSE=(docker-compose)
fi
python3 -c 'import yaml' 2>/dev/null || apt_install python3-yaml
say "compose: $("${COMPOSE[@]}" version 2>/dev/null | head -n1)"

FIXTURE="$(mktemp -d /tmp/maestro-compose-check.XXXXXX)"
cleanup() {
    if ((RUN)) && [[ -n "${COMPOSE_FILES:-}" ]]; then
        # shellcheck disable=SC2086
        "${COMPOSE[@]}" -p "$PROJECT" $COMPOSE_FILES down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    rm -rf "$FIXTURE"
}
trap cleanup EXIT

# The throwaway material of the documented steps (deploy/compose/README.md), made with maestroctl:
# the host's binary when there is one, else the cli image.
maestroctl() {
    local bin
    for bin in "$TARGET_DIR/debug/maestroctl" "$TARGET_DIR/release/maestroctl"; do
        if [[ -x "$bin" ]]; then
            "$bin" "$@"
            return
        fi
    done
    docker image inspect "local/maestroctl:$TAG" >/dev/null 2>&1 \
        || die "no maestroctl in $TARGET_DIR/{debug,release} and no image local/maestroctl:$TAG"
    docker run --rm --network none --user 0 -v "$FIXTURE:$FIXTURE" "local/maestroctl:$TAG" "$@"
}
if ((RUN)); then
    bash scripts/docker.sh >/dev/null || die "scripts/docker.sh could not provide a Docker Engine"
fi
mkdir -p "$FIXTURE/secrets"
maestroctl pki init --dir "$FIXTURE/pki" --trust-domain maestro.example >/dev/null
maestroctl pki issue --dir "$FIXTURE/pki" maestro --dns maestro --dns localhost >/dev/null
maestroctl pki issue --dir "$FIXTURE/pki" domain north --dns domain-orchestrator --dns log-server >/dev/null
maestroctl pki issue --dir "$FIXTURE/pki" site north north-1 >/dev/null
maestroctl keys generate --out "$FIXTURE/signing" --name north >/dev/null
echo "not-a-real-token" >"$FIXTURE/secrets/git-token"
chmod 0600 "$FIXTURE/secrets/git-token"
# As the README says: the components (uid 10001) read their own keys; the CA key stays unreadable.
chown 10001:10001 "$FIXTURE"/pki/{maestro,domain-north,site-north-north-1}-key.pem \
    "$FIXTURE/signing/north.pk8" "$FIXTURE/secrets/git-token"
chmod 0755 "$FIXTURE"

export MAESTRO_TAG="$TAG"
export MAESTRO_CHECK_FIXTURE="$FIXTURE"
export MAESTRO_CHECK_COMPOSE="${COMPOSE[*]}"
export MAESTRO_CHECK_VERSION="$VERSION"

# 1 and 2: config validation, static checks and their negative self-test.
python3 - <<'PY'
import concurrent.futures, copy, json, os, re, shlex, subprocess, sys, urllib.parse
import yaml

ROOT = os.getcwd()
COMPOSE_DIR = os.path.join(ROOT, "deploy", "compose")
COMPOSE = shlex.split(os.environ["MAESTRO_CHECK_COMPOSE"])
FIXTURE = os.environ["MAESTRO_CHECK_FIXTURE"]
VERSION = os.environ["MAESTRO_CHECK_VERSION"]

FILES = ["central.yaml", "domain.yaml", "site.yaml", "site-one-host.yaml", "observability.yaml"]
COMBINATIONS = [
    ["central.yaml"],
    ["domain.yaml"],
    ["site.yaml"],
    ["observability.yaml"],
    ["site.yaml", "site-one-host.yaml"],
    ["central.yaml", "observability.yaml"],
    ["domain.yaml", "observability.yaml"],
    ["central.yaml", "domain.yaml", "site.yaml", "site-one-host.yaml", "observability.yaml"],
]
# Host paths the compose files mount that the repository does not hold, and who makes them.
DOCUMENTED = {
    "deploy/pki": "maestroctl pki init/issue (deploy/compose/README.md)",
    "deploy/signing": "maestroctl keys generate (deploy/compose/README.md)",
}
# Which Rust config a Maestro image runs, by image name.
CRATES = {
    "local/maestro": "maestro",
    "local/maestro-domain": "domain-orchestrator",
    "local/maestro-log-server": "log-server",
    "local/maestro-site": "site-agent",
    "local/maestro-site-ssh": "site-agent",
}
COLLECTOR_SERVICE = "otel-collector"
PROMETHEUS_SERVICE = "prometheus"
GRAFANA_SERVICE = "grafana"


def fixture_env(use_fixture):
    env = dict(os.environ)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    for key in ("MAESTRO_PKI", "MAESTRO_SIGNING", "MAESTRO_SECRETS", "MAESTRO_NETWORK", "MAESTRO_SITE_IMAGE"):
        env.pop(key, None)
    env.pop("MAESTRO_TAG", None)  # the defaults are checked, not the test tag
    if use_fixture:
        env["MAESTRO_PKI"] = os.path.join(FIXTURE, "pki")
        env["MAESTRO_SIGNING"] = os.path.join(FIXTURE, "signing")
        env["MAESTRO_SECRETS"] = os.path.join(FIXTURE, "secrets")
    return env


def compose_config(files, use_fixture):
    args = COMPOSE[:]
    for f in files:
        args += ["-f", os.path.join(COMPOSE_DIR, f)]
    out = subprocess.run(args + ["config"], cwd=ROOT, env=fixture_env(use_fixture),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"compose config of {' + '.join(files)} failed:\n{out.stderr}")
    return yaml.safe_load(out.stdout)


# ---------------------------------------------------------------- Rust config structs
SOURCES = {}


def rust_sources():
    if not SOURCES:
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = [d for d in dirnames if d not in ("target", ".git", "node_modules")]
            for f in filenames:
                if f.endswith(".rs"):
                    p = os.path.join(dirpath, f)
                    with open(p, encoding="utf-8") as fh:
                        SOURCES[os.path.relpath(p, ROOT)] = fh.read()
    return SOURCES


def struct_fields(name, crate):
    """Fields of `pub struct name { ... }` (the crate's own first): {key: type}."""
    pattern = re.compile(r"pub struct " + re.escape(name) + r"\s*\{")
    candidates = sorted(rust_sources().items(), key=lambda kv: (not kv[0].startswith(crate + "/"), kv[0]))
    for path, text in candidates:
        m = pattern.search(text)
        if not m:
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[m.end():i - 1]
        fields, rename = {}, None
        for line in body.splitlines():
            line = line.strip()
            r = re.match(r'#\[serde\(.*rename\s*=\s*"([^"]+)"', line)
            if r:
                rename = r.group(1)
                continue
            f = re.match(r"pub (?:r#)?(\w+)\s*:\s*(.+?),?$", line)
            if f:
                fields[rename or f.group(1)] = f.group(2)
                rename = None
        return fields, path
    return None, None


def inner_type(t):
    t = t.strip()
    for wrapper in ("Option", "Box"):
        if t.startswith(wrapper + "<") and t.endswith(">"):
            return inner_type(t[len(wrapper) + 1:-1])
    return t.split("::")[-1].strip()


def check_keys(value, struct, crate, where, errors):
    fields, path = struct_fields(struct, crate)
    if fields is None:
        errors.append(f"{where}: no `pub struct {struct}` in the sources")
        return
    if not isinstance(value, dict):
        errors.append(f"{where}: expected an object for {struct}")
        return
    for key, v in value.items():
        if key not in fields:
            errors.append(f"{where}: unknown key `{key}` ({struct} in {path} has: {', '.join(sorted(fields))})")
            continue
        t = inner_type(fields[key])
        if isinstance(v, dict) and re.fullmatch(r"[A-Z]\w*", t) and t not in ("Value", "String", "PathBuf"):
            check_keys(v, t, crate, f"{where}.{key}", errors)


# ---------------------------------------------------------------- model of the deployment
def load_model():
    """Everything the checks look at, as plain data (so the self-test can break it)."""
    model = {"combos": {}, "bare": {}, "files": {}}
    # compose 1.29 takes about a second per call: run them side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        combos = {" + ".join(c): pool.submit(compose_config, c, True) for c in COMBINATIONS}
        bare = {f: pool.submit(compose_config, ["site.yaml", f] if f == "site-one-host.yaml" else [f], False)
                for f in FILES}
        model["combos"] = {k: v.result() for k, v in combos.items()}
        model["bare"] = {k: v.result() for k, v in bare.items()}
    model["raw_text"] = {f: open(os.path.join(COMPOSE_DIR, f)).read() for f in FILES}
    model["all"] = model["combos"][" + ".join(COMBINATIONS[-1])]
    for compose in model["combos"].values():
        for svc in compose["services"].values():
            for typ, src, _, _ in mounts(svc):
                if typ != "bind":
                    continue
                paths = [src] if os.path.isfile(src) else [
                    os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs]
                for p in paths:
                    if p not in model["files"] and p.endswith((".json", ".yaml", ".yml")):
                        with open(p, encoding="utf-8") as fh:
                            model["files"][p] = fh.read()
    return model


def mounts(svc):
    """[(type, host source, container target, read_only)] of a resolved service."""
    out = []
    for vol in svc.get("volumes", []):
        if isinstance(vol, dict):
            out.append((vol.get("type", "volume"), vol.get("source"), vol["target"], bool(vol.get("read_only"))))
        else:
            parts = vol.split(":")
            src, dst = parts[0], parts[1]
            ro = len(parts) > 2 and "ro" in parts[2].split(",")
            out.append(("bind" if src.startswith("/") else "volume", src, dst, ro))
    return out


def host_path(svc, container_path):
    """The host path a container path of `svc` maps to through a bind mount, or None."""
    best = None
    for typ, src, dst, _ in mounts(svc):
        if typ == "bind" and (container_path == dst or container_path.startswith(dst.rstrip("/") + "/")):
            if best is None or len(dst) > len(best[1]):
                best = (src, dst)
    if best is None:
        return None
    return best[0] + container_path[len(best[1]):]


def image_name(svc):
    return svc["image"].rsplit(":", 1)[0]


def maestro_services(compose):
    return {n: s for n, s in compose["services"].items() if image_name(s) in CRATES}


def component_config(model, svc):
    """(host path, parsed config) of the file the service's --config names."""
    cmd = svc.get("command") or []
    if "--config" not in cmd:
        return None, None
    path = host_path(svc, cmd[cmd.index("--config") + 1])
    if path is None or path not in model["files"]:
        return path, None
    return path, json.loads(model["files"][path])


def metrics_port(model, svc):
    env = svc.get("environment") or {}
    listen = env.get("MAESTRO_METRICS_LISTEN")
    if not listen:
        _, cfg = component_config(model, svc)
        listen = (cfg or {}).get("metrics_listen")
    return int(listen.rsplit(":", 1)[1]) if listen else None


# ---------------------------------------------------------------- the checks
def check_mounts(model, errors, warnings):
    for name, compose in model["bare"].items():
        for svc_name, svc in compose["services"].items():
            for typ, src, dst, ro in mounts(svc):
                if typ != "bind":
                    continue
                rel = os.path.relpath(src, ROOT)
                if os.path.exists(src):
                    continue
                if rel in DOCUMENTED:
                    continue
                errors.append(f"{name}: {svc_name} mounts {src}, which does not exist and no documented step makes")
    for svc_name, svc in model["all"]["services"].items():
        for typ, src, dst, ro in mounts(svc):
            if typ == "bind" and not ro:
                errors.append(f"{svc_name}: bind mount {src} -> {dst} is writable (mount it :ro)")


def check_configs(model, errors, warnings):
    seen = set()
    for svc_name, svc in [(n, s) for c in model["combos"].values() for n, s in maestro_services(c).items()]:
        crate = CRATES[image_name(svc)]
        path, cfg = component_config(model, svc)
        if (svc_name, path) in seen:
            continue
        seen.add((svc_name, path))
        if path is None:
            errors.append(f"{svc_name}: its --config file is not bind-mounted")
            continue
        if cfg is None:
            errors.append(f"{svc_name}: config {path} was not read")
            continue
        check_keys(cfg, "Config", crate, f"{svc_name} ({os.path.relpath(path, ROOT)})", errors)
        # Every /etc/maestro path it names is mounted and (with the fixture PKI) exists.
        def walk(v, key):
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{key}.{k}" if key else k)
            elif isinstance(v, list):
                for x in v:
                    walk(x, key)
            elif isinstance(v, str) and v.startswith("/etc/maestro/"):
                hp = host_path(svc, v)
                if hp is None:
                    errors.append(f"{svc_name}: {key} = {v} is not under any mount")
                elif not os.path.exists(hp):
                    errors.append(f"{svc_name}: {key} = {v} is {hp} on the host, which the documented steps do not make")
        walk(cfg, "")
        for key in ("data_dir",):
            d = cfg.get(key)
            if d and not any(t == "volume" and (d == dst or d.startswith(dst + "/")) for t, _, dst, _ in mounts(svc)):
                errors.append(f"{svc_name}: {key} {d} is not on a volume (its data would die with the container)")
    for f, text in model["files"].items():
        if f.endswith((".yaml", ".yml")):
            try:
                yaml.safe_load(text)
            except yaml.YAMLError as e:
                errors.append(f"{f}: not YAML: {e}")


def parse_yaml(model, path):
    """The YAML document of a mounted file, None when not mounted, or a YAMLError."""
    if path not in model["files"]:
        return None
    try:
        return yaml.safe_load(model["files"][path])
    except yaml.YAMLError as e:
        return e


def collector_config(model):
    svc = model["all"]["services"][COLLECTOR_SERVICE]
    cmd = svc.get("command") or []
    arg = next((c for c in cmd if c.startswith("--config=")), None)
    return parse_yaml(model, host_path(svc, arg.split("=", 1)[1]) if arg else None)


def port_of(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


def check_collector(model, errors, warnings):
    cfg = collector_config(model)
    if isinstance(cfg, yaml.YAMLError):
        errors.append(f"otel-collector: its config is not YAML: {cfg}")
        return
    if not isinstance(cfg, dict):
        errors.append("otel-collector: its config file is not mounted or not a YAML mapping")
        return
    svc_cfg = cfg.get("service") or {}
    pipelines = svc_cfg.get("pipelines") or {}
    if not pipelines:
        errors.append("otel-collector: no pipelines")
    used = {"receivers": set(), "processors": set(), "exporters": set()}
    for pname, p in pipelines.items():
        for kind in used:
            for comp in p.get(kind) or []:
                used[kind].add(comp)
                if comp not in (cfg.get(kind) or {}):
                    errors.append(f"otel-collector: pipeline {pname} uses {kind[:-1]} {comp}, which is not defined")
        if not p.get("receivers") or not p.get("exporters"):
            errors.append(f"otel-collector: pipeline {pname} needs receivers and exporters")
    for kind in used:
        for comp in cfg.get(kind) or {}:
            if comp not in used[kind]:
                warnings.append(f"otel-collector: {kind[:-1]} {comp} is defined but in no pipeline")
    for ext in svc_cfg.get("extensions") or []:
        if ext not in (cfg.get("extensions") or {}):
            errors.append(f"otel-collector: extension {ext} is not defined")
    for needed in ("traces", "metrics"):
        if not any(p == needed or p.startswith(needed + "/") for p in pipelines):
            errors.append(f"otel-collector: no {needed} pipeline")


def collector_ports(model):
    cfg = collector_config(model)
    if not isinstance(cfg, dict):
        cfg = {}
    grpc = (((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}).get("grpc") or {}
    prom = (cfg.get("exporters") or {}).get("prometheus") or {}
    return (port_of(grpc["endpoint"]) if grpc.get("endpoint") else 4317,
            port_of(prom["endpoint"]) if prom.get("endpoint") else None)


def check_otlp(model, errors, warnings):
    grpc_port, _ = collector_ports(model)
    if COLLECTOR_SERVICE not in model["all"]["services"]:
        errors.append(f"no {COLLECTOR_SERVICE} service")
        return
    for svc_name, svc in maestro_services(model["all"]).items():
        endpoint = (svc.get("environment") or {}).get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if not endpoint:
            errors.append(f"{svc_name}: OTEL_EXPORTER_OTLP_ENDPOINT is not set")
            continue
        u = urllib.parse.urlparse(endpoint)
        if (u.scheme, u.hostname, u.port) != ("http", COLLECTOR_SERVICE, grpc_port):
            errors.append(f"{svc_name}: OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}, not http://{COLLECTOR_SERVICE}:{grpc_port}")


def prometheus_config(model):
    svc = model["all"]["services"][PROMETHEUS_SERVICE]
    arg = next((c for c in svc.get("command") or [] if c.startswith("--config.file=")), None)
    return parse_yaml(model, host_path(svc, arg.split("=", 1)[1]) if arg else None)


def check_prometheus(model, errors, warnings):
    cfg = prometheus_config(model)
    if isinstance(cfg, yaml.YAMLError):
        errors.append(f"prometheus: its config is not YAML: {cfg}")
        return
    if not isinstance(cfg, dict):
        errors.append("prometheus: its config file is not mounted or not a YAML mapping")
        return
    targets = set()
    for job in cfg.get("scrape_configs") or []:
        for sc in job.get("static_configs") or []:
            for t in sc.get("targets") or []:
                targets.add((job["job_name"], t))
    expected = set()
    services = model["all"]["services"]
    for svc_name, svc in maestro_services(model["all"]).items():
        port = metrics_port(model, svc)
        if port is not None:
            expected.add(f"{svc_name}:{port}")
        elif CRATES[image_name(svc)] != "site-agent":  # sites dial out: they push OTLP instead
            errors.append(f"{svc_name}: no metrics_listen, so Prometheus cannot scrape it")
    _, exporter_port = collector_ports(model)
    if exporter_port is None:
        errors.append("otel-collector: no prometheus exporter for Prometheus to scrape")
    else:
        expected.add(f"{COLLECTOR_SERVICE}:{exporter_port}")
    got = {t for _, t in targets}
    for t in sorted(expected - got):
        errors.append(f"prometheus: nothing scrapes {t}")
    for job, t in sorted(targets):
        if t not in expected:
            host = t.rsplit(":", 1)[0]
            why = "no such service" if host not in services else "not a metrics port of that service"
            errors.append(f"prometheus: job {job} scrapes {t}: {why}")


def check_grafana(model, errors, warnings):
    svc = model["all"]["services"].get(GRAFANA_SERVICE)
    if svc is None:
        errors.append("no grafana service")
        return
    prov = (svc.get("environment") or {}).get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
    root = host_path(svc, prov)
    if root is None or not os.path.isdir(root):
        errors.append(f"grafana: provisioning {prov} is not a mounted directory")
        return
    prom = model["all"]["services"].get(PROMETHEUS_SERVICE, {})
    listen = next((c.split("=", 1)[1] for c in prom.get("command") or [] if c.startswith("--web.listen-address=")), ":9090")
    prom_url = f"http://{PROMETHEUS_SERVICE}:{port_of(listen)}"
    found = {"datasources": 0, "dashboards": 0}
    for kind in found:
        d = os.path.join(root, kind)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            p = os.path.join(d, f)
            doc = parse_yaml(model, p)
            if not isinstance(doc, dict):
                errors.append(f"grafana: {p} is not a YAML mapping: {doc}")
                continue
            if kind == "datasources":
                for ds in doc.get("datasources") or []:
                    found[kind] += 1
                    if ds.get("type") == "prometheus" and ds.get("url") != prom_url:
                        errors.append(f"grafana: datasource {ds.get('name')} points at {ds.get('url')}, not {prom_url}")
            else:
                for prv in doc.get("providers") or []:
                    found[kind] += 1
                    path = (prv.get("options") or {}).get("path", "")
                    hp = host_path(svc, path)
                    if hp is None:
                        errors.append(f"grafana: dashboards provider {prv.get('name')} reads {path}, which is not mounted")
                    elif not os.path.isdir(hp):
                        errors.append(f"grafana: dashboards provider {prv.get('name')} reads {hp}, which is not a directory")
                    elif not any(f.endswith(".json") for f in os.listdir(hp)):
                        errors.append(f"grafana: dashboards directory {hp} holds no dashboard (.json)")
                    else:
                        for f in sorted(os.listdir(hp)):
                            p = os.path.join(hp, f)
                            if not f.endswith(".json"):
                                continue
                            try:
                                board = json.loads(model["files"].get(p) or open(p).read())
                            except ValueError as e:
                                errors.append(f"grafana: dashboard {p} is not JSON: {e}")
                                continue
                            if not isinstance(board, dict) or not board.get("panels"):
                                errors.append(f"grafana: dashboard {p} has no panels")
    for kind, n in found.items():
        if n == 0:
            errors.append(f"grafana: no {kind} provisioned")


def check_images(model, errors, warnings):
    for name, compose in model["bare"].items():
        for svc_name, svc in compose["services"].items():
            ref = svc["image"]
            if image_name(svc) in CRATES:
                tag = ref.rsplit(":", 1)[1]
                if tag != VERSION:
                    errors.append(f"{name}: {svc_name} defaults to {ref}, not the workspace version {VERSION}")
                if "build" in svc:
                    errors.append(f"{name}: {svc_name} has a build section (images come from scripts/images.sh)")
            elif ":" not in ref or ref.endswith(":latest"):
                errors.append(f"{name}: {svc_name} image {ref} has no pinned version")
    for f, text in model["raw_text"].items():
        for m in re.finditer(r"^\s+image:\s*(\S*local/\S+)", text, re.M):
            if "pull_policy: never" not in text[m.start():m.start() + 200]:
                errors.append(f"{f}: {m.group(1)} is not marked pull_policy: never")


CHECKS = [check_mounts, check_configs, check_collector, check_otlp, check_prometheus, check_grafana, check_images]


def run_checks(model):
    errors, warnings = [], []
    for check in CHECKS:
        check(model, errors, warnings)
    return errors, warnings


# ---------------------------------------------------------------- negative self-test
def file_of(model, suffix):
    return next(p for p in model["files"] if p.endswith(suffix))


def edit_json(model, suffix, fn):
    p = file_of(model, suffix)
    d = json.loads(model["files"][p])
    fn(d)
    model["files"][p] = json.dumps(d)


def edit_yaml(model, suffix, fn):
    p = file_of(model, suffix)
    d = yaml.safe_load(model["files"][p])
    fn(d)
    model["files"][p] = yaml.safe_dump(d)


def svc(model, name):
    return model["all"]["services"][name]


MUTATIONS = {
    "a mounted host path that nothing makes": (
        lambda m: m["bare"]["central.yaml"]["services"]["maestro"]["volumes"].append(
            {"type": "bind", "source": "/nonexistent/maestro", "target": "/x", "read_only": True}),
        "does not exist"),
    "an unknown top-level config key": (
        lambda m: edit_json(m, "config/maestro.json", lambda d: d.update(listen_addr="0.0.0.0:1")),
        "unknown key `listen_addr`"),
    "an unknown nested config key": (
        lambda m: edit_json(m, "config/site.json", lambda d: d["tls"].update(ca_file="x")),
        "unknown key `ca_file`"),
    "a certificate name the PKI steps do not make": (
        lambda m: edit_json(m, "config/domain.json", lambda d: d["tls"].update(cert="/etc/maestro/tls/north.pem")),
        "documented steps do not make"),
    "data_dir off the volume": (
        lambda m: edit_json(m, "config/log-server.json", lambda d: d.update(data_dir="/tmp/logs")),
        "is not on a volume"),
    "a scrape port that is not metrics_listen": (
        lambda m: edit_yaml(m, "prometheus/prometheus.yml",
                            lambda d: d["scrape_configs"][0]["static_configs"][0].update(targets=["maestro:9999"])),
        "nothing scrapes maestro:9464"),
    "a component's metrics_listen moved": (
        lambda m: edit_json(m, "config/domain.json", lambda d: d.update(metrics_listen="0.0.0.0:9999")),
        "nothing scrapes domain-orchestrator:9999"),
    "a pipeline using an undefined exporter": (
        lambda m: edit_yaml(m, "otel/collector.yaml",
                            lambda d: d["service"]["pipelines"]["traces"].update(exporters=["otlp/tempo"])),
        "not defined"),
    "a collector config that is not YAML": (
        lambda m: m["files"].update({file_of(m, "otel/collector.yaml"): "receivers: [unclosed"}),
        "not YAML"),
    "an OTLP endpoint off the collector": (
        lambda m: svc(m, "site-agent")["environment"].update(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317"),
        "not http://otel-collector:4317"),
    "the collector's OTLP port moved": (
        lambda m: edit_yaml(m, "otel/collector.yaml",
                            lambda d: d["receivers"]["otlp"]["protocols"]["grpc"].update(endpoint="0.0.0.0:4318")),
        "not http://otel-collector:4318"),
    "a Grafana datasource off Prometheus": (
        lambda m: edit_yaml(m, "datasources/prometheus.yaml",
                            lambda d: d["datasources"][0].update(url="http://prometheus:9091")),
        "not http://prometheus:9090"),
    "a Grafana dashboards path that is not mounted": (
        lambda m: edit_yaml(m, "dashboards/maestro.yaml",
                            lambda d: d["providers"][0]["options"].update(path="/var/lib/grafana/dashboards")),
        "which is not mounted"),
    "a dashboard that is not JSON": (
        lambda m: m["files"].update({file_of(m, "dashboards/fleet-overview.json"): "{\"panels\": ["}),
        "is not JSON"),
    "an image tag off the workspace version": (
        lambda m: m["bare"]["site.yaml"]["services"]["site-agent"].update(image="local/maestro-site:0.0.9"),
        "not the workspace version"),
    "a writable bind mount": (
        lambda m: svc(m, "maestro")["volumes"].__setitem__(
            0, {"type": "bind", "source": mounts(svc(m, "maestro"))[0][1],
                "target": mounts(svc(m, "maestro"))[0][2]}),
        "is writable"),
}


def self_test(model):
    failures = []
    broken_file = os.path.join(FIXTURE, "broken.yaml")
    with open(broken_file, "w") as fh:
        fh.write("services:\n  maestro:\n    image: local/maestro:0.1.0\n    volumes: 5\n")
    try:
        compose_config([broken_file], True)
        failures.append("compose config accepted a service whose volumes are a number")
    except SystemExit:
        pass
    for name, (mutate, expect) in MUTATIONS.items():
        broken = copy.deepcopy(model)
        # Files are shared by path between the combinations: keep the copy's own dict.
        mutate(broken)
        errors, _ = run_checks(broken)
        if not any(expect in e for e in errors):
            failures.append(f"{name}: expected an error containing {expect!r}, got {errors or 'none'}")
    return failures


def main():
    model = load_model()
    print(f"compose-check.sh: config: {len(COMBINATIONS)} file combinations and {len(FILES)} files alone are valid")
    errors, warnings = run_checks(model)
    for w in warnings:
        print(f"compose-check.sh: warning: {w}")
    if errors:
        for e in errors:
            print(f"compose-check.sh: FAIL: {e}", file=sys.stderr)
        raise SystemExit(1)
    print(f"compose-check.sh: static: {len(CHECKS)} checks pass "
          f"({len(maestro_services(model['all']))} Maestro services, {len(model['files'])} mounted files read)")
    failures = self_test(model)
    if failures:
        for f in failures:
            print(f"compose-check.sh: SELF-TEST FAIL: {f}", file=sys.stderr)
        raise SystemExit(1)
    print(f"compose-check.sh: self-test: an invalid compose file and each of {len(MUTATIONS)} broken variants are caught")


main()
PY

if ((!RUN)); then
    say "done (static only) in $((SECONDS - START)) s"
    exit 0
fi

# 3. create with compose (network none, nothing pulled), then run each container as compose made it.
SERVICES=(maestro log-server domain-orchestrator site-agent)
for img in maestro maestro-domain maestro-log-server maestro-site; do
    docker image inspect "local/$img:$TAG" >/dev/null 2>&1 \
        || die "image local/$img:$TAG is missing: run scripts/images.sh$([[ "$TAG" == *-debug ]] && echo ' --profile debug') first"
done
COMPOSE_FILES="-f deploy/compose/central.yaml -f deploy/compose/domain.yaml -f deploy/compose/site.yaml"
# The domain's Git volume has a fixed name (sites on the host share it): give it the project's.
export MAESTRO_NETWORK=none MAESTRO_PKI="$FIXTURE/pki" MAESTRO_SIGNING="$FIXTURE/signing" \
    MAESTRO_SECRETS="$FIXTURE/secrets" MAESTRO_GIT_VOLUME="$PROJECT-git"
# shellcheck disable=SC2086
"${COMPOSE[@]}" -p "$PROJECT" $COMPOSE_FILES up --no-start --no-build "${SERVICES[@]}" >"$FIXTURE/up.log" 2>&1 \
    || { cat "$FIXTURE/up.log" >&2; die "compose up --no-start failed"; }
say "up --no-start: compose created ${#SERVICES[@]} containers, their volumes, on network none"

python3 - "$PROJECT" "${SERVICES[@]}" <<'PY'
import json, subprocess, sys, time

project, services = sys.argv[1], sys.argv[2:]
SERVING = {
    "maestro": "maestro serving on 0.0.0.0:7200",
    "log-server": "log server serving on 0.0.0.0:7400",
    "domain-orchestrator": "domain orchestrator serving on 0.0.0.0:7300",
    "site-agent": "site agent serving on ",
}
started = []


def docker(*args, check=True):
    out = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:2])}: {out.stderr.strip()}")
    return out.stdout.strip()


def fail(msg):
    for cid in started:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)
    raise SystemExit(f"compose-check.sh: FAIL: {msg}")


try:
    for name in services:
        ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
                     "--filter", f"label=com.docker.compose.service={name}").split()
        if len(ids) != 1:
            fail(f"compose made {len(ids)} containers for {name}")
        c = json.loads(docker("inspect", ids[0]))[0]
        cfg, host = c["Config"], c["HostConfig"]
        if host.get("NetworkMode") != "none":
            fail(f"{name}: network {host.get('NetworkMode')}, expected none for the check")
        args = ["run", "--detach", "--network", "none", "--name", f"{project}-{name}-run"]
        for e in cfg.get("Env") or []:
            args += ["--env", e]
        for m in c["Mounts"]:
            src = m["Source"] if m["Type"] == "bind" else m["Name"]
            args += ["--volume", f"{src}:{m['Destination']}" + ("" if m["RW"] else ":ro")]
        args += [cfg["Image"], *(cfg.get("Cmd") or [])]
        cid = docker(*args)
        started.append(cid)
        deadline, logs = time.time() + 30, ""
        while time.time() < deadline:
            out = subprocess.run(["docker", "logs", cid], capture_output=True, text=True)
            logs = out.stdout + out.stderr
            if SERVING[name] in logs:
                break
            if json.loads(docker("inspect", cid))[0]["State"]["Status"] != "running":
                fail(f"{name} exited before serving:\n" + "\n".join(logs.splitlines()[-15:]))
            time.sleep(0.3)
        else:
            fail(f"{name} did not print {SERVING[name]!r} in 30 s:\n" + "\n".join(logs.splitlines()[-15:]))
        user = docker("exec", cid, "/bin/id", "-u")
        if user != "10001":
            fail(f"{name} runs as uid {user}, not 10001")
        port = {"maestro": 9464, "domain-orchestrator": 9465, "log-server": 9466}.get(name)
        if port:
            body = docker("exec", cid, "wget", "-qO-", f"http://127.0.0.1:{port}/metrics", check=False)
            if f'service_name="{name}"' not in body:
                fail(f"{name}: /metrics on :{port} has no service_name=\"{name}\" series")
        print(f"compose-check.sh: run: {name} serves as compose made it (uid 10001"
              + (f", /metrics on :{port}" if port else "") + ")")
    for cid in started:
        docker("stop", "--time", "10", cid)
        code = json.loads(docker("inspect", cid))[0]["State"]["ExitCode"]
        docker("rm", "-v", cid)
        if code != 0:
            raise SystemExit(f"compose-check.sh: FAIL: container {cid[:12]} exited {code} on SIGTERM")
    started.clear()
finally:
    for cid in started:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)
PY
# shellcheck disable=SC2086
"${COMPOSE[@]}" -p "$PROJECT" $COMPOSE_FILES down -v --remove-orphans >"$FIXTURE/down.log" 2>&1 \
    || { cat "$FIXTURE/down.log" >&2; die "compose down -v failed"; }
COMPOSE_FILES=""
say "down -v: containers and volumes removed"
say "done in $((SECONDS - START)) s"
