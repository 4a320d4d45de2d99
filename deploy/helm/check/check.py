#!/usr/bin/env python3
"""Checks Maestro's Helm charts without Helm (run by scripts/helm-check.sh).

For every chart and every values scenario under scenarios/<chart>/ it validates the merged values
against the chart's values.schema.json (JSON Schema draft-07, as Helm does), renders the chart with
the Go renderer (render/, text/template), parses every document and checks it:

* against the Kubernetes API types of the `kubernetes` Python client's generated models: the kind
  and apiVersion must name a model; every key must be a field of the model (unknown fields are
  errors); the model's own validation (pydantic, strict) then checks required fields and types;
* cert-manager Certificates and Prometheus-operator ServiceMonitors, which have no model there,
  against small hand-written schemas of the fields the charts use (CERT_MANAGER_CERTIFICATE,
  SERVICE_MONITOR below);
* a few rules the API server applies that the models do not (names, label values, selectors);
* cross-references: volumes, mounts, Services, probes, config files and their keys, certificate
  identities (see check_release).

scenarios/<chart>/bad-*.yaml are values the schema must reject (their `# expect:` line names a
part of the expected error). Then self-tests break rendered objects on purpose and require each
break to be caught, so that a checker that lets everything through fails.
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml
from kubernetes import client

HERE = os.path.dirname(os.path.abspath(__file__))

# --- what the components accept --------------------------------------------------------------
# Config keys of each component, from the Rust structs (#[serde(deny_unknown_fields)]): an
# unknown key makes the component exit 64, so the checker refuses it here first.
TLS_KEYS = {"ca", "cert", "key", "insecure", "server_name", "reload_secs"}  # common/src/tls/settings.rs TlsSettings
GIT_KEYS = {"ca", "username", "password_file", "password_env", "ssh_key", "known_hosts",
            "timeout_secs", "deadline_secs", "max_transfer_bytes"}  # git-transport/src/settings.rs GitSettings
CONFIG_KEYS = {
    # maestro/src/config.rs Config
    "maestro.json": {"listen", "data_dir", "metrics_listen", "health_listen", "catalog_dir", "domain_unreachable_after_ms",
                     "fanout_backoff_min_ms", "fanout_backoff_max_ms", "tls", "operator_policy"},
    # domain-orchestrator/src/config.rs Config
    "domain.json": {"domain", "listen", "advertise", "data_dir", "metrics_listen", "health_listen", "git_remote", "git",
                    "git_init_remote", "branch", "sites", "labels", "region", "log_server", "maestro",
                    "heartbeat_interval_ms", "site_unreachable_after_ms", "tls", "policy", "catalog_dir", "signing"},
    # log-server/src/config.rs Config
    "log-server.json": {"listen", "data_dir", "metrics_listen", "health_listen", "domain", "max_record_bytes", "retention_max_records",
                        "retention_max_bytes", "retention_max_age_ms", "retention_interval_ms", "rate_limit_per_site",
                        "rate_limit_burst", "tls"},
    # site-agent/src/config.rs Config (no health_listen: the agent serves no gRPC)
    "site.json": {"domain", "site", "data_dir", "metrics_listen", "git_remote", "git", "branch", "sync_interval_ms",
                  "log_server", "colony_url", "colony_listen", "heartbeat_interval_ms", "colony_reconcile_interval_ms",
                  "outbox_max_records", "reconcilers", "tls", "signing"},
}
NESTED_KEYS = {
    "tls": TLS_KEYS,
    "git": GIT_KEYS,
    # domain-orchestrator/src/signing/settings.rs SigningSettings / site-agent/src/gitsync/trust.rs SigningSettings
    ("domain.json", "signing"): {"keys", "key_set", "validity_secs", "renew_before_secs"},
    ("site.json", "signing"): {"keys", "threshold", "insecure_unsigned"},
    # domain-orchestrator/src/policy.rs Policy
    ("domain.json", "policy"): {"specs", "image_prefixes", "command_dirs", "max_replicas", "sites", "organisations",
                                "disclosure", "maintenance_windows"},
    ("site.json", "reconcilers"): None,  # names checked below; their settings by the agent
}
RECONCILERS = {"process", "docker", "config_file"}  # site-agent/src/reconcilers.rs registrations
# Which binary reads which file (deploy/README.md).
BINARY_CONFIG = {"/usr/local/bin/maestro": "maestro.json", "/usr/local/bin/maestro-domain": "domain.json",
                 "/usr/local/bin/maestro-log-server": "log-server.json", "/usr/local/bin/maestro-site": "site.json"}

# --- kinds ------------------------------------------------------------------------------------
MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap", ("v1", "Secret"): "V1Secret", ("v1", "Service"): "V1Service",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim", ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "StatefulSet"): "V1StatefulSet", ("apps/v1", "Deployment"): "V1Deployment",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}

_meta = {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
    "name": {"type": "string"}, "namespace": {"type": "string"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}}}}
# The fields of cert-manager.io/v1 Certificate the charts use (cert-manager's CRD has more; a field
# not listed here is refused, so a new one must be added here deliberately).
CERT_MANAGER_CERTIFICATE = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"}, "kind": {"const": "Certificate"}, "metadata": _meta,
        "spec": {"type": "object", "required": ["secretName", "issuerRef"], "additionalProperties": False, "properties": {
            "secretName": {"type": "string", "minLength": 1},
            "commonName": {"type": "string", "maxLength": 64},
            "uris": {"type": "array", "items": {"type": "string"}},
            "dnsNames": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "duration": {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$"},
            "renewBefore": {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$"},
            "privateKey": {"type": "object", "additionalProperties": False, "properties": {
                "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]}, "size": {"type": "integer"},
                "encoding": {"enum": ["PKCS1", "PKCS8"]}, "rotationPolicy": {"enum": ["Never", "Always"]}}},
            "usages": {"type": "array", "items": {"enum": [
                "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
                "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
                "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
                "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"]}},
            "issuerRef": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                "name": {"type": "string", "minLength": 1}, "kind": {"type": "string"}, "group": {"type": "string"}}},
        }},
    },
}
# The fields of monitoring.coreos.com/v1 ServiceMonitor the charts use.
SERVICE_MONITOR = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"}, "metadata": _meta,
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False, "properties": {
            "selector": {"type": "object", "additionalProperties": False, "properties": {
                "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "endpoints": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False, "properties": {
                "port": {"type": "string"}, "path": {"type": "string"}, "interval": {"type": "string"}}}},
        }},
    },
}
CRDS = {("cert-manager.io/v1", "Certificate"): CERT_MANAGER_CERTIFICATE,
        ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SPIFFE = re.compile(r"^spiffe://[a-z0-9._-]+/(maestro|domain/[A-Za-z0-9][A-Za-z0-9._-]{0,62}(/site/[A-Za-z0-9][A-Za-z0-9._-]{0,62})?)$")


# --- the API-type check -----------------------------------------------------------------------
def check_model(cls_name, data, path, errors):
    """Every key of data must be a field of the model; recurses through nested models."""
    cls = getattr(client, cls_name)
    if not isinstance(data, dict):
        errors.append(f"{path}: expected a mapping ({cls_name}), got {type(data).__name__}")
        return
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for key, value in data.items():
        attr = by_json.get(key)
        if attr is None:
            errors.append(f"{path}.{key}: unknown field of {cls_name}")
            continue
        check_type(cls.openapi_types[attr], value, f"{path}.{key}", errors)


def check_type(t, value, path, errors):
    if value is None:
        return  # null: absent
    m = re.fullmatch(r"List\[(.+)\]", t)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check_type(m.group(1), item, f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"Dict\[str, (.+)\]", t)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        for k, item in value.items():
            if not isinstance(k, str):
                errors.append(f"{path}: key {k!r} is not a string")
            check_type(m.group(1), item, f"{path}[{k}]", errors)
        return
    simple = {"str": str, "bool": bool, "float": (int, float)}
    if t in simple:
        if not isinstance(value, simple[t]) or (t == "float" and isinstance(value, bool)):
            errors.append(f"{path}: expected {t}, got {type(value).__name__} {value!r}")
    elif t == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected int, got {type(value).__name__} {value!r}")
    elif t in ("object", "datetime", "date", "bytearray"):
        pass  # int-or-string and the like: the model's own validation decides
    elif hasattr(client, t):
        check_model(t, value, path, errors)
    else:
        errors.append(f"{path}: the checker does not know type {t}")


def check_object(doc, where):
    """Checks one rendered document against its API type; returns a list of errors."""
    errors = []
    if not isinstance(doc, dict):
        return [f"{where}: a document that is not a mapping"]
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRDS:
        v = jsonschema.Draft7Validator(CRDS[key])
        for e in v.iter_errors(doc):
            errors.append(f"{where}: {'.'.join(map(str, e.absolute_path)) or '(object)'}: {e.message}")
    elif key in MODELS:
        name = MODELS[key]
        check_model(name, doc, where, errors)
        if not errors:
            try:
                getattr(client, name).from_dict(doc)  # required fields and strict types
            except Exception as e:  # pydantic.ValidationError
                errors.append(f"{where}: {name}: {' '.join(str(e).split())}")
    else:
        return [f"{where}: unknown apiVersion/kind {key}"]
    meta = doc.get("metadata") or {}
    name = meta.get("name", "")
    if not (isinstance(name, str) and len(name) <= 253 and DNS_SUBDOMAIN.match(name)):
        errors.append(f"{where}: metadata.name {name!r} is not a DNS subdomain")
    if key[1] in ("Service", "StatefulSet") and not (len(name) <= 63 and DNS_LABEL.match(name)):
        errors.append(f"{where}: a {key[1]} name must be a DNS label of at most 63 characters: {name!r}")
    for labels in all_label_maps(doc):
        for k, v in labels.items():
            if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                errors.append(f"{where}: label {k}={v!r} is not a valid label value")
    return errors


def all_label_maps(doc):
    out = [(doc.get("metadata") or {}).get("labels") or {}]
    spec = doc.get("spec") or {}
    if isinstance(spec, dict):
        out.append(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
        out.append((spec.get("selector") or {}).get("matchLabels") or {} if isinstance(spec.get("selector"), dict) else {})
    return [m for m in out if isinstance(m, dict)]


# --- cross-references --------------------------------------------------------------------------
def strings_at(values, keys):
    """Every non-empty string in values under one of keys (at any depth)."""
    found = set()

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in keys and isinstance(x, str) and x:
                    found.add(x)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(values)
    return found


def under(path, mounts):
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def check_release(docs, values, expect):
    """Cross-reference checks over one rendered release; returns errors."""
    errors = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    configmaps = by_kind.get("ConfigMap", {})
    certs = by_kind.get("Certificate", {})
    secrets = {n: set((d.get("data") or {}) | (d.get("stringData") or {})) for n, d in by_kind.get("Secret", {}).items()}
    for c in certs.values():  # cert-manager writes these keys
        secrets[c["spec"]["secretName"]] = {"tls.crt", "tls.key", "ca.crt"}
    external_secrets = strings_at(values, {"existingSecret", "ownerKeySecret"})
    external_configmaps = strings_at(values, {"operatorPolicyConfigMap", "catalogConfigMap"})
    services = by_kind.get("Service", {})
    workloads = {**by_kind.get("StatefulSet", {}), **by_kind.get("Deployment", {})}

    for wname, w in workloads.items():
        where = f"{w['kind']} {wname}"
        spec = w["spec"]
        pod = spec["template"]["spec"]
        tlabels = spec["template"]["metadata"].get("labels") or {}
        for k, v in (spec["selector"].get("matchLabels") or {}).items():
            if tlabels.get(k) != v:
                errors.append(f"{where}: selector {k}={v} does not match the pod template's labels")
        if w["kind"] == "StatefulSet":
            sn = spec.get("serviceName")
            if sn and sn not in services:
                errors.append(f"{where}: serviceName {sn} names no rendered Service")
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        claim_names = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or []}
        for vname, v in volumes.items():
            if not DNS_LABEL.match(vname):
                errors.append(f"{where}: volume name {vname!r} is not a DNS label")
            if "configMap" in v:
                n = v["configMap"]["name"]
                if n in configmaps:
                    data = set(configmaps[n].get("data") or {})
                    for it in v["configMap"].get("items") or []:
                        if it["key"] not in data:
                            errors.append(f"{where}: volume {vname}: ConfigMap {n} has no key {it['key']}")
                elif n not in external_configmaps:
                    errors.append(f"{where}: volume {vname}: ConfigMap {n} is neither rendered nor declared external in values")
            if "secret" in v:
                n = v["secret"]["secretName"]
                if n in secrets:
                    for it in v["secret"].get("items") or []:
                        if it["key"] not in secrets[n]:
                            errors.append(f"{where}: volume {vname}: Secret {n} has no key {it['key']}")
                elif n not in external_secrets:
                    errors.append(f"{where}: volume {vname}: Secret {n} is neither rendered nor declared external in values")
            if "persistentVolumeClaim" in v:
                n = v["persistentVolumeClaim"]["claimName"]
                if n not in by_kind.get("PersistentVolumeClaim", {}) and n not in strings_at(values, {"existingClaim"}):
                    errors.append(f"{where}: volume {vname}: PVC {n} is neither rendered nor declared external")
        for c in (pod.get("initContainers") or []) + pod["containers"]:
            cw = f"{where} container {c['name']}"
            if not DNS_LABEL.match(c["name"]):
                errors.append(f"{cw}: name is not a DNS label")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            numbers = [p["containerPort"] for p in c.get("ports") or []]
            for n in sorted({n for n in numbers if numbers.count(n) > 1}):
                errors.append(f"{cw}: containerPort {n} is declared twice (two listeners cannot share it)")
            for pn in ports:
                if pn is not None and (len(pn) > 15 or not PORT_NAME.match(pn)):
                    errors.append(f"{cw}: port name {pn!r} is not an IANA service name (at most 15 characters)")
            mounts = {}
            for m in c.get("volumeMounts") or []:
                if m["name"] not in volumes and m["name"] not in claim_names:
                    errors.append(f"{cw}: volumeMount {m['name']} names no volume")
                mounts[m["mountPath"]] = m["name"]
            for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
                p = c.get(probe_name)
                if not p:
                    continue
                if "grpc" in p:
                    # The kubelet's gRPC probe speaks plaintext and presents no certificate: it
                    # belongs on the health endpoint (health_listen), declared as the port `health`.
                    if p["grpc"]["port"] != ports.get("health"):
                        errors.append(f"{cw}: {probe_name} gRPC port {p['grpc']['port']} is not the container's health port {ports.get('health')}")
                    if p["grpc"].get("service"):
                        errors.append(f"{cw}: {probe_name} gRPC probe asks for service {p['grpc']['service']!r}; the health endpoint reports only the server as a whole ('')")
                for action in ("tcpSocket", "httpGet"):
                    if action in p:
                        port = p[action]["port"]
                        if (isinstance(port, str) and port not in ports) or (isinstance(port, int) and port not in ports.values()):
                            errors.append(f"{cw}: {probe_name} {action} port {port!r} is not a port of the container")
            cmd = (c.get("command") or [None])[0]
            if cmd in BINARY_CONFIG:
                errors += check_component(cw, c, BINARY_CONFIG[cmd], ports, mounts, volumes, configmaps, secrets, w, values)

    for sname, s in services.items():
        sel = s["spec"].get("selector") or {}
        pods = [w for w in workloads.values()
                if sel and all((w["spec"]["template"]["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())]
        if not pods:
            errors.append(f"Service {sname}: its selector matches no rendered pod template")
            continue
        names = {p.get("name") for w in pods for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or []}
        numbers = {p["containerPort"] for w in pods for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or []}
        for p in s["spec"].get("ports") or []:
            tp = p.get("targetPort", p["port"])
            if (isinstance(tp, str) and tp not in names) or (isinstance(tp, int) and tp not in numbers):
                errors.append(f"Service {sname}: targetPort {tp!r} is no port of the pods it selects")
    for mname, m in by_kind.get("ServiceMonitor", {}).items():
        sel = m["spec"]["selector"].get("matchLabels") or {}
        hits = [s for s in services.values() if all((s["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())]
        if not any(any(p.get("name") == e["port"] for p in s["spec"].get("ports") or []) for s in hits for e in m["spec"]["endpoints"]):
            errors.append(f"ServiceMonitor {mname}: selects no Service with its endpoint port")

    # Certificates: the identities the components need (docs/security.md, "Certificates").
    got = sorted(u for c in certs.values() for u in c["spec"].get("uris") or [])
    if sorted(expect.get("spiffe", [])) != got:
        errors.append(f"Certificates name SPIFFE URIs {got}, expected {sorted(expect.get('spiffe', []))}")
    for cname, c in certs.items():
        uris = c["spec"].get("uris") or []
        if len(uris) > 1:
            errors.append(f"Certificate {cname}: {len(uris)} URI SANs; a component certificate names exactly one")
        for u in uris:
            if not SPIFFE.match(u):
                errors.append(f"Certificate {cname}: {u} is not a Maestro SPIFFE identity")
    return errors


def check_component(cw, c, file, ports, mounts, volumes, configmaps, secrets, w, values):
    """The config file a Maestro binary reads: present, parseable, with known keys, and consistent
    with the container (ports, mounted paths)."""
    errors = []
    args = c.get("args") or []
    if "--config" not in args:
        return [f"{cw}: runs a Maestro binary without --config"]
    path = args[args.index("--config") + 1]
    if os.path.basename(path) != file:
        errors.append(f"{cw}: reads {path}, expected a {file}")
    vol = mounts.get(os.path.dirname(path))
    cm = volumes.get(vol, {}).get("configMap", {}).get("name")
    if cm not in configmaps or file not in (configmaps[cm].get("data") or {}):
        return errors + [f"{cw}: {path} is not a key of a rendered ConfigMap mounted at {os.path.dirname(path)}"]
    try:
        cfg = json.loads(configmaps[cm]["data"][file])
    except ValueError as e:
        return errors + [f"{cw}: {file} is not JSON: {e}"]
    for k in cfg:
        if k not in CONFIG_KEYS[file]:
            errors.append(f"{cw}: {file}: unknown key {k!r} (the component would exit 64)")
    for sect, allowed in (("tls", TLS_KEYS), ("git", GIT_KEYS), ("signing", NESTED_KEYS.get((file, "signing"))),
                          ("policy", NESTED_KEYS.get((file, "policy")))):
        if sect in cfg and allowed is not None:
            if not isinstance(cfg[sect], dict):
                errors.append(f"{cw}: {file}: {sect} must be a mapping")
                continue
            for k in cfg[sect]:
                if k not in allowed:
                    errors.append(f"{cw}: {file}: unknown key {sect}.{k!r}")
    for r in (cfg.get("reconcilers") or {}) if file == "site.json" else ():
        if r not in RECONCILERS:
            errors.append(f"{cw}: {file}: unknown reconciler {r!r}")
    # Ports: the gRPC, metrics and health listeners are the container's declared ports.
    for key, pname in (("listen", "grpc"), ("metrics_listen", "metrics"), ("health_listen", "health")):
        if key in cfg:
            port = int(str(cfg[key]).rsplit(":", 1)[1])
            if ports.get(pname) != port:
                errors.append(f"{cw}: {file}: {key} port {port} is not the container's {pname} port {ports.get(pname)}")
            if not str(cfg[key]).startswith("0.0.0.0:"):
                errors.append(f"{cw}: {file}: {key} {cfg[key]} is not reachable from outside the pod")
        elif pname in ports and (pname == "metrics" or file != "site.json"):
            errors.append(f"{cw}: declares port {pname} but {file} has no {key}")
    # Every file the config names is mounted, and secret/configMap files exist in the volume.
    tls = cfg.get("tls") or {}
    insecure = tls.get("insecure") is True
    files = [tls.get(k) for k in ("ca", "cert", "key")] + [(cfg.get("git") or {}).get(k) for k in ("ca", "password_file", "ssh_key", "known_hosts")]
    files += [cfg.get("operator_policy")] + list((cfg.get("signing") or {}).get("keys") or []) if file == "domain.json" else [cfg.get("operator_policy")]
    for f in filter(None, files):
        mp = next((m for m in mounts if f.startswith(m.rstrip("/") + "/")), None)
        if mp is None:
            errors.append(f"{cw}: {file} names {f}, which no volumeMount provides")
            continue
        v = volumes.get(mounts[mp], {})
        rel = f[len(mp.rstrip("/")) + 1:]
        for kind, namekey, store in (("secret", "secretName", secrets), ("configMap", "name", {n: set(d.get("data") or {}) for n, d in configmaps.items()})):
            if kind in v:
                items = v[kind].get("items")
                if items is not None:
                    if rel not in {i["path"] for i in items}:
                        errors.append(f"{cw}: {file} names {f}, but volume {mounts[mp]} has no item with path {rel}")
                elif v[kind][namekey] in store and rel not in store[v[kind][namekey]]:
                    errors.append(f"{cw}: {file} names {f}, but {kind} {v[kind][namekey]} has no key {rel}")
    for d in ("data_dir", "catalog_dir"):
        if d in cfg and not under(cfg[d], mounts):
            errors.append(f"{cw}: {file}: {d} {cfg[d]} is on no volume (the root file system is read-only)")
    if "data_dir" in cfg:
        vname = next((n for m, n in mounts.items() if under(cfg["data_dir"], [m])), None)
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates") or []}
        if vname not in claims and "persistentVolumeClaim" not in volumes.get(vname, {}):
            errors.append(f"{cw}: {file}: data_dir is not on a persistent volume")
    # Endpoints match TLS (the components refuse a mismatch: common/src/tls check_endpoint).
    for key in ("advertise", "maestro", "log_server", "git_remote"):
        u = cfg.get(key)
        if isinstance(u, str) and u.startswith(("http://", "https://")) and key != "git_remote":
            if u.startswith("http://") != insecure:
                errors.append(f"{cw}: {file}: {key} {u} does not match tls.insecure={insecure}")
    # The kubelet's gRPC probe speaks plaintext: against the TLS gRPC port it always fails; it must
    # reach the component's plaintext health endpoint, health_listen.
    health = cfg.get("health_listen")
    health_port = int(str(health).rsplit(":", 1)[1]) if health else None
    for pn in ("livenessProbe", "readinessProbe", "startupProbe"):
        g = (c.get(pn) or {}).get("grpc")
        if not g:
            continue
        if g.get("port") == ports.get("grpc") and not insecure:
            errors.append(f"{cw}: {pn} is a gRPC probe of the gRPC port, but the server requires TLS (the kubelet's gRPC probe has none)")
        if health is None:
            errors.append(f"{cw}: {pn} is a gRPC probe, but {file} sets no health_listen (nothing answers it in plaintext)")
        elif g.get("port") != health_port:
            errors.append(f"{cw}: {pn} gRPC port {g.get('port')} is not health_listen's port {health_port} in {file}")
    if file == "site.json" and cfg.get("colony_url") and not str(cfg["colony_url"]).startswith(("http://", "https://")):
        errors.append(f"{cw}: colony_url must be an http(s) URL")
    return errors


# --- driving the renderer ------------------------------------------------------------------------
class Renderer:
    def __init__(self, binary, workdir):
        self.binary, self.workdir, self.n = binary, workdir, 0

    def _json(self, obj):
        self.n += 1
        p = os.path.join(self.workdir, f"in-{self.n}.json")
        with open(p, "w") as f:
            json.dump(obj, f)
        return p

    def render(self, chart_dir, overrides, release="maestro", namespace="maestro", notes=False, api_versions=()):
        meta = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml")))
        defaults = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml"))) or {}
        merged = os.path.join(self.workdir, "merged.json")
        cmd = [self.binary, "-chart", chart_dir, "-chart-meta", self._json(meta), "-values", self._json(defaults),
               "-values", self._json(overrides or {}), "-release", release, "-namespace", namespace, "-values-out", merged]
        for a in api_versions:
            cmd += ["-api-versions", a]
        if notes:
            cmd.append("-notes")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip())
        return r.stdout, json.load(open(merged))


def expected_identities(chart, values):
    td = values["trustDomain"]
    if values.get("tls", {}).get("insecure") or not values.get("tls", {}).get("certManager", {}).get("enabled"):
        return []
    return {"maestro-central": [f"spiffe://{td}/maestro"],
            "maestro-domain": [f"spiffe://{td}/domain/{values.get('domain')}"],
            "maestro-site": [f"spiffe://{td}/domain/{values.get('domain')}/site/{values.get('site')}"]}[chart]


def check_scenario(renderer, chart_dir, chart, scenario_file, validator):
    """Returns (errors, number of objects)."""
    overrides = yaml.safe_load(open(scenario_file)) or {}
    where = f"{chart}/{os.path.basename(scenario_file)}"
    try:
        out, merged = renderer.render(chart_dir, overrides)
    except RuntimeError as e:
        return [f"{where}: rendering failed: {e}"], 0
    errors = [f"{where}: values: {'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(merged)]
    try:
        docs = [d for d in yaml.safe_load_all(out) if d is not None]
    except yaml.YAMLError as e:
        return errors + [f"{where}: the rendered output is not YAML: {e}"], 0
    for i, d in enumerate(docs):
        errors += [f"{where}: {e}" for e in check_object(d, f"#{i} {d.get('kind')}/{(d.get('metadata') or {}).get('name')}")]
    if not errors:
        errors += [f"{where}: {e}" for e in check_release(docs, merged, {"spiffe": expected_identities(chart, merged)})]
    try:
        notes, _ = renderer.render(chart_dir, overrides, notes=True)
        if not notes.strip():
            errors.append(f"{where}: NOTES.txt renders empty")
    except RuntimeError as e:
        errors.append(f"{where}: NOTES.txt: {e}")
    return errors, len(docs)


def check_bad_values(renderer, chart_dir, chart, scenario_file, validator):
    """A bad-*.yaml scenario: the schema must reject it, with the `# expect:` text in an error."""
    text = open(scenario_file).read()
    m = re.search(r"^# expect: (.+)$", text, re.M)
    if not m:
        return [f"{chart}/{os.path.basename(scenario_file)}: no '# expect:' line"]
    overrides = yaml.safe_load(text) or {}
    merged_values = merged_only(renderer, chart_dir, overrides)
    found = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged_values)]
    if not found:
        return [f"{chart}/{os.path.basename(scenario_file)}: the schema accepted values it must reject"]
    if not any(m.group(1) in f for f in found):
        return [f"{chart}/{os.path.basename(scenario_file)}: rejected, but not for {m.group(1)!r}: {found}"]
    return []


def merged_only(renderer, chart_dir, overrides):
    """The merged values; rendering may fail for bad values (that is fine here)."""
    meta = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml")))
    defaults = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml"))) or {}
    merged = os.path.join(renderer.workdir, "merged.json")
    if os.path.exists(merged):
        os.remove(merged)
    subprocess.run([renderer.binary, "-chart", chart_dir, "-chart-meta", renderer._json(meta), "-values", renderer._json(defaults),
                    "-values", renderer._json(overrides), "-values-out", merged], capture_output=True, text=True)
    return json.load(open(merged))


# --- self-tests: the checker must be able to fail --------------------------------------------------
def self_tests(renderer, charts_dir):
    """Breaks rendered objects on purpose; each break must be reported. Returns (errors, count)."""
    errors = []
    central = os.path.join(charts_dir, "maestro-central")
    base_values = yaml.safe_load(open(os.path.join(HERE, "scenarios", "maestro-central", "cert-manager.yaml")))
    out, merged = renderer.render(central, base_values)
    docs = [d for d in yaml.safe_load_all(out) if d]
    expect = {"spiffe": expected_identities("maestro-central", merged)}

    def find(kind, suffix=""):
        return next(i for i, d in enumerate(docs) if d["kind"] == kind and d["metadata"]["name"].endswith(suffix))

    sts, cert = find("StatefulSet"), find("Certificate")
    cfg = find("ConfigMap", "-config")
    svc = next(i for i, d in enumerate(docs) if d["kind"] == "Service" and not d["metadata"]["name"].endswith("headless"))

    def container(ds):
        return ds[sts]["spec"]["template"]["spec"]["containers"][0]

    def set_cfg(ds, k, v):
        c = json.loads(ds[cfg]["data"]["maestro.json"]); c[k] = v
        ds[cfg]["data"]["maestro.json"] = json.dumps(c)

    def del_cfg(ds, k):
        c = json.loads(ds[cfg]["data"]["maestro.json"]); del c[k]
        ds[cfg]["data"]["maestro.json"] = json.dumps(c)

    def port(ds, name):
        return next(p for p in container(ds)["ports"] if p["name"] == name)

    def tcp_probe(ds, probe, port):
        container(ds)[probe].pop("grpc")
        container(ds)[probe]["tcpSocket"] = {"port": port}

    def grpc_probe(ds, probe, port, **extra):
        container(ds)[probe].pop("grpc", None)
        container(ds)[probe].pop("tcpSocket", None)
        container(ds)[probe]["grpc"] = {"port": port, **extra}

    def move_health(ds, to):  # the container port and both probes, not the config
        port(ds, "health")["containerPort"] = to
        grpc_probe(ds, "livenessProbe", to)
        grpc_probe(ds, "readinessProbe", to)

    breaks = [
        ("an unknown field in a container", "unknown field of V1Container", lambda ds: container(ds).update(imagePullPolicyy="Always")),
        ("an unknown field in the pod spec", "unknown field of V1PodSpec", lambda ds: ds[sts]["spec"]["template"]["spec"].update(hostname_="x")),
        ("a containerPort given as a string", "expected int", lambda ds: container(ds)["ports"][0].update(containerPort="7200")),
        ("a boolean where a string belongs", "expected str", lambda ds: ds[svc]["spec"].update(type=True)),
        ("a StatefulSet without its required selector", "selector", lambda ds: ds[sts]["spec"].pop("selector")),
        ("a container without its required name", "name", lambda ds: container(ds).pop("name")),
        ("a kind with no API type", "unknown apiVersion/kind", lambda ds: ds[svc].update(apiVersion="v2")),
        ("a gRPC probe on another port", "not the container's health port", lambda ds: grpc_probe(ds, "livenessProbe", 7999)),
        ("a gRPC probe on the TLS gRPC port", "gRPC port, but the server requires TLS", lambda ds: grpc_probe(ds, "readinessProbe", 7200)),
        ("a gRPC probe whose port is not health_listen's", "is not health_listen's port 7209", lambda ds: move_health(ds, 7210)),
        ("a gRPC probe with health_listen missing", "sets no health_listen", lambda ds: del_cfg(ds, "health_listen")),
        ("a health port without health_listen", "declares port health but maestro.json has no health_listen", lambda ds: del_cfg(ds, "health_listen")),
        ("a health_listen off the health port", "health_listen port 7210 is not the container's health port", lambda ds: set_cfg(ds, "health_listen", "0.0.0.0:7210")),
        ("a gRPC probe asking for a service", "reports only the server as a whole", lambda ds: grpc_probe(ds, "livenessProbe", 7209, service="maestro.v1.Maestro")),
        ("a health port shared with the gRPC port", "containerPort 7200 is declared twice", lambda ds: port(ds, "health").update(containerPort=7200)),
        ("a probe on an undeclared port name", "is not a port of the container", lambda ds: tcp_probe(ds, "livenessProbe", "grcp")),
        ("a volume of a ConfigMap that does not exist", "neither rendered nor declared external", lambda ds: ds[sts]["spec"]["template"]["spec"]["volumes"][0]["configMap"].update(name="nope")),
        ("a mount of a volume that does not exist", "names no volume", lambda ds: container(ds)["volumeMounts"].append({"name": "ghost", "mountPath": "/ghost"})),
        ("an unknown key in maestro's config", "unknown key 'listen_addr'", lambda ds: set_cfg(ds, "listen_addr", "0.0.0.0:1")),
        ("health_listen in the site agent's config", "site.json: unknown key 'health_listen'", lambda ds: ds[cfg]["data"].update({"site.json": ds[cfg]["data"].pop("maestro.json")}) or container(ds).update(command=["/usr/local/bin/maestro-site"], args=["--config", "/etc/maestro/config/site.json"])),
        ("an unknown key in the tls section", "unknown key tls.'certificate'", lambda ds: set_cfg(ds, "tls", {"certificate": "/x"})),
        ("a listen port that is not the container's", "listen port 7201", lambda ds: set_cfg(ds, "listen", "0.0.0.0:7201")),
        ("a TLS file outside every mount", "which no volumeMount provides", lambda ds: set_cfg(ds, "tls", {"ca": "/etc/elsewhere/ca.pem", "cert": "/etc/maestro/tls/maestro.pem", "key": "/etc/maestro/tls/maestro-key.pem"})),
        ("a TLS file the secret volume does not hold", "has no item with path", lambda ds: set_cfg(ds, "tls", {"ca": "/etc/maestro/tls/ca.crt", "cert": "/etc/maestro/tls/maestro.pem", "key": "/etc/maestro/tls/maestro-key.pem"})),
        ("a wrong SPIFFE identity", "expected ['spiffe://", lambda ds: ds[cert]["spec"].update(uris=["spiffe://maestro.example/domain/maestro"])),
        ("two SPIFFE identities in one certificate", "exactly one", lambda ds: ds[cert]["spec"]["uris"].append("spiffe://maestro.example/maestro")),
        ("an unknown field in a Certificate", "Additional properties are not allowed", lambda ds: ds[cert]["spec"].update(uri=["x"])),
        ("a Service selecting no pod", "matches no rendered pod template", lambda ds: ds[svc]["spec"]["selector"].update({"app.kubernetes.io/component": "other"})),
        ("a Service targetPort no pod has", "targetPort 'grcp'", lambda ds: ds[svc]["spec"]["ports"][0].update(targetPort="grcp")),
        ("a label value that is too long", "not a valid label value", lambda ds: ds[svc]["metadata"]["labels"].update(x="a" * 64)),
        ("a port name longer than 15 characters", "IANA service name", lambda ds: container(ds)["ports"][1].update(name="metrics-prometheus")),
        ("a data_dir off the persistent volume", "is on no volume", lambda ds: set_cfg(ds, "data_dir", "/var/lib/other")),
    ]
    for what, needle, mutate in breaks:
        ds = copy.deepcopy(docs)
        try:
            mutate(ds)
        except Exception as e:
            errors.append(f"self-test {what}: could not apply the break: {e!r}")
            continue
        found = []
        for i, d in enumerate(ds):
            found += check_object(d, f"#{i}")
        if not found:
            found = check_release(ds, merged, expect)
        if not any(needle in f for f in found):
            errors.append(f"self-test {what}: not caught (wanted {needle!r}; got {found})")
    # The unbroken objects pass (else the breaks above prove nothing).
    clean = [e for i, d in enumerate(docs) for e in check_object(d, f"#{i}")] + check_release(docs, merged, expect)
    if clean:
        errors.append(f"self-test baseline is not clean: {clean}")
    # toYaml round trip: awkward values must read back as the same data.
    tricky = {"s": ["yes", "No", "on", "~", "null", "", " lead", "trail ", "1.0", "0x1F", "1e3", "12:30", "2024-01-02",
                    "a: b", "x #y", "#c", "-d", "? q", "multi\nline", "tab\there", "quote\"d", "back\\slash", "unicode é 漢",
                    "del\x7f", "bell\x07", "!tag", "&anchor", "*alias", "%x", "@x", "`x", "|x", ">x", "[x]", "{x}", "a,b"],
              "n": [0, 1, -1, 7200, 1000000, 0.5, 1e-7], "b": [True, False], "z": [None, {"k": None}],
              "nested": {"list": [{"a": [1, [2, 3], {}]}, [], {}], "map": {"k-1": {"k.2": "v"}}}, "empty": {}}
    rt_chart = os.path.join(HERE, "testdata", "roundtrip")
    # (A null directly under a values key would remove the key, as Helm's values merge does.)
    out, _ = renderer.render(rt_chart, {"data": tricky})
    docs_rt = [d for d in yaml.safe_load_all(out) if d]
    back = docs_rt[0]["data"] if docs_rt else None
    if back != tricky:
        errors.append(f"self-test toYaml round trip: wrote {tricky!r}, read back {back!r}")
    back_json = json.loads(docs_rt[1]["json"]) if len(docs_rt) > 1 else None
    if back_json != tricky:
        errors.append(f"self-test toJson round trip: read back {back_json!r}")
    return errors, len(breaks) + 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--render", required=True, help="the helmrender binary")
    ap.add_argument("--charts", default=os.path.dirname(HERE), help="directory of the charts (deploy/helm)")
    args = ap.parse_args()
    errors, n_charts, n_scenarios, n_objects, n_bad = [], 0, 0, 0, 0
    with tempfile.TemporaryDirectory(prefix="helm-check-") as tmp:
        r = Renderer(args.render, tmp)
        for chart in ("maestro-central", "maestro-domain", "maestro-site"):
            chart_dir = os.path.join(args.charts, chart)
            schema = json.load(open(os.path.join(chart_dir, "values.schema.json")))
            jsonschema.Draft7Validator.check_schema(schema)
            validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
            n_charts += 1
            sdir = os.path.join(HERE, "scenarios", chart)
            for f in sorted(os.listdir(sdir)):
                path = os.path.join(sdir, f)
                if f.startswith("bad-"):
                    errs = check_bad_values(r, chart_dir, chart, path, validator)
                    n_bad += 1
                    status = "rejected as expected" if not errs else "FAILED"
                else:
                    errs, n = check_scenario(r, chart_dir, chart, path, validator)
                    n_scenarios += 1
                    n_objects += n
                    status = f"{n} objects ok" if not errs else "FAILED"
                print(f"  {chart:16} {f:34} {status}")
                errors += errs
        st_errors, n_self = self_tests(r, args.charts)
        print(f"  self-tests: {n_self} (deliberate breaks must be caught; toYaml/toJson round trips)")
        errors += st_errors
    for e in errors:
        print("ERROR:", e)
    print(f"helm-check: {n_charts} charts, {n_scenarios} scenarios, {n_objects} objects checked; "
          f"{n_bad} bad values files rejected; {n_self} self-tests; {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
