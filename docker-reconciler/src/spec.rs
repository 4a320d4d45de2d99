//! Blueprint specs of the two kinds this reconciler handles, validated into the containers they
//! ask for ([`DesiredContainer`]). Unknown keys are tolerated (COP-Pilot's examples carry extra
//! ones); every error names the offending field.

use std::collections::BTreeMap;

use colony::model::Blueprint;
use serde_json::{Map, Value};

use reconciler::values::scalar;

use crate::labels;

mod health;
pub use health::HealthCheck;

/// Kind of the multi-container deployment (group `colonyos.io`).
pub const DOCKER_DEPLOYMENT: &str = "DockerDeployment";
/// Kind of the executor deployment (group `compute.colonies.io`).
pub const EXECUTOR_DEPLOYMENT: &str = "ExecutorDeployment";
/// Executor type of this reconciler.
pub const EXECUTOR_TYPE: &str = "docker-reconciler";
/// Most replicas one blueprint may ask for.
pub const MAX_REPLICAS: u32 = 256;

/// One declared port. With host (or no) networking it is informational only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Port name (`ExecutorDeployment`), if any.
    pub name: Option<String>,
    /// Host port to publish on, if any.
    pub host: Option<u16>,
    /// Container port.
    pub container: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// Kind of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// A Docker named volume (created on first use, never removed by the reconciler).
    Named,
    /// A host directory.
    Bind,
}

/// One volume mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Named or bind.
    pub kind: VolumeKind,
    /// Volume name, or absolute host path for a bind.
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl VolumeSpec {
    /// The Docker `Binds` entry `source:target[:ro]`.
    pub fn bind_string(&self) -> String {
        let mut s = format!("{}:{}", self.source, self.target);
        if self.read_only {
            s.push_str(":ro");
        }
        s
    }
}

/// One container the blueprint asks for: replica `replica` of `instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredContainer {
    /// Container name (see [`labels::container_name`]).
    pub name: String,
    /// Colony name.
    pub colony: String,
    /// Blueprint name.
    pub blueprint: String,
    /// Blueprint kind.
    pub kind: String,
    /// Instance name (empty for `ExecutorDeployment`).
    pub instance: String,
    /// Replica index.
    pub replica: u32,
    /// Blueprint `metadata.generation`.
    pub generation: i64,
    /// Image reference.
    pub image: String,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Declared ports.
    pub ports: Vec<PortSpec>,
    /// Volumes.
    pub volumes: Vec<VolumeSpec>,
    /// Entrypoint override (`command`).
    pub entrypoint: Option<Vec<String>>,
    /// Cmd override (`args`).
    pub cmd: Option<Vec<String>>,
    /// Privileged mode.
    pub privileged: bool,
    /// Docker network mode (`host`, `none`, a network name, ...).
    pub network_mode: String,
    /// CPU limit in units of 1e-9 CPUs.
    pub nano_cpus: Option<i64>,
    /// Memory limit in bytes.
    pub memory_bytes: Option<i64>,
    /// `spec.rollout.maxUnavailable`: how many containers of the blueprint may be down at once
    /// while a new template replaces them (default 1; containers keep their names, so there is
    /// no surge).
    pub max_unavailable: u32,
    /// The health check: a rollout waits for a new container to pass it before the next step.
    pub health_check: Option<HealthCheck>,
}

impl DesiredContainer {
    /// What this container runs, as a hash of everything it is created with except the
    /// generation and the rollout limits.
    pub fn template(&self) -> String {
        use sha2::{Digest, Sha256};
        let ports: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("{:?}:{:?}:{}/{}", p.name, p.host, p.container, p.protocol))
            .collect();
        let volumes: Vec<String> = self.volumes.iter().map(|v| v.bind_string()).collect();
        let mut canonical = serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "image": self.image,
            "env": self.env,
            "ports": ports,
            "volumes": volumes,
            "entrypoint": self.entrypoint,
            "cmd": self.cmd,
            "privileged": self.privileged,
            "networkMode": self.network_mode,
            "nanoCpus": self.nano_cpus,
            "memoryBytes": self.memory_bytes,
        });
        // Only when set, so containers made before health checks existed keep their template.
        if let Some(h) = &self.health_check {
            canonical["healthCheck"] = h.canonical();
        }
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The labels the container is created with.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert(labels::MANAGED.to_string(), "true".to_string());
        l.insert(labels::BLUEPRINT.to_string(), self.blueprint.clone());
        l.insert(labels::GENERATION.to_string(), self.generation.to_string());
        l.insert(labels::COLONY.to_string(), self.colony.clone());
        l.insert(labels::KIND.to_string(), self.kind.clone());
        l.insert(labels::INSTANCE.to_string(), self.instance.clone());
        l.insert(labels::REPLICA.to_string(), self.replica.to_string());
        l.insert(labels::TEMPLATE.to_string(), self.template());
        if !self.ports.is_empty() {
            l.insert(labels::PORTS.to_string(), self.ports_label());
        }
        l
    }

    /// Ports as `host:container/protocol` (host omitted when not published), comma-separated.
    pub fn ports_label(&self) -> String {
        self.ports
            .iter()
            .map(|p| match p.host {
                Some(h) => format!("{h}:{}/{}", p.container, p.protocol),
                None => format!("{}/{}", p.container, p.protocol),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// True when the network mode shares the host's stack or has none: ports are not published.
    pub fn ports_informational(&self) -> bool {
        matches!(self.network_mode.as_str(), "host" | "none")
            || self.network_mode.starts_with("container:")
    }
}

/// What one container template of a spec asks for, before replicas are expanded.
#[derive(Debug, Clone, Default)]
struct Template {
    instance: Option<String>,
    image: String,
    env: BTreeMap<String, String>,
    ports: Vec<PortSpec>,
    volumes: Vec<VolumeSpec>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    network_mode: Option<String>,
    nano_cpus: Option<i64>,
    memory_bytes: Option<i64>,
    health_check: Option<HealthCheck>,
    executor: Option<ExecutorIdentity>,
}

#[derive(Debug, Clone, Default)]
struct ExecutorIdentity {
    executor_type: String,
    names: Vec<String>,
    name: Option<String>,
}

/// The containers blueprint `bp` (of either kind) asks for, in colony `colony`, with
/// `default_network_mode` where the spec sets none. The error names the offending field.
pub fn desired_containers(
    bp: &Blueprint,
    colony: &str,
    default_network_mode: &str,
) -> Result<Vec<DesiredContainer>, String> {
    let obj = bp.spec.as_object().ok_or("spec: not an object")?;
    let replicas = replicas(obj)?;
    let max_unavailable = max_unavailable(obj)?;
    let templates = match bp.kind.as_str() {
        DOCKER_DEPLOYMENT => docker_templates(obj)?,
        EXECUTOR_DEPLOYMENT => vec![executor_template(obj)?],
        other => return Err(format!("kind {other:?} is not handled by {EXECUTOR_TYPE}")),
    };
    let name = &bp.metadata.name;
    let mut out = Vec::new();
    for t in &templates {
        for replica in 0..replicas {
            let container = labels::container_name(name, t.instance.as_deref(), replica);
            let mut env = t.env.clone();
            if let Some(ex) = &t.executor {
                let executor_name = ex
                    .names
                    .get(replica as usize)
                    .cloned()
                    .or_else(|| {
                        ex.name.as_ref().map(|n| {
                            if replicas > 1 {
                                format!("{n}-{replica}")
                            } else {
                                n.clone()
                            }
                        })
                    })
                    .unwrap_or_else(|| container.clone());
                for (k, v) in [
                    ("COLONIES_COLONY_NAME", colony.to_string()),
                    ("COLONIES_EXECUTOR_TYPE", ex.executor_type.clone()),
                    ("COLONIES_EXECUTOR_NAME", executor_name),
                ] {
                    env.entry(k.to_string()).or_insert(v);
                }
            }
            out.push(DesiredContainer {
                name: container,
                colony: colony.to_string(),
                blueprint: name.clone(),
                kind: bp.kind.clone(),
                instance: t.instance.clone().unwrap_or_default(),
                replica,
                generation: bp.metadata.generation,
                image: t.image.clone(),
                env,
                ports: t.ports.clone(),
                volumes: t.volumes.clone(),
                entrypoint: t.entrypoint.clone(),
                cmd: t.cmd.clone(),
                privileged: t.privileged,
                network_mode: t
                    .network_mode
                    .clone()
                    .unwrap_or_else(|| default_network_mode.to_string()),
                nano_cpus: t.nano_cpus,
                memory_bytes: t.memory_bytes,
                max_unavailable,
                health_check: t.health_check.clone(),
            });
        }
    }
    let mut names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "spec.instances: two containers would be named {}",
            w[0]
        ));
    }
    Ok(out)
}

/// `spec.rollout`: only `maxUnavailable` (1 to `MAX_REPLICAS`, default 1); a surge would need
/// a second container under the same name.
fn max_unavailable(obj: &Map<String, Value>) -> Result<u32, String> {
    let rollout = match obj.get("rollout") {
        None | Some(Value::Null) => return Ok(1),
        Some(Value::Object(o)) => o,
        Some(_) => return Err("spec.rollout: not an object".into()),
    };
    for (k, v) in rollout {
        match k.as_str() {
            "maxUnavailable" => {}
            "maxSurge" if uint(v) == Some(0) => {}
            "maxSurge" => {
                return Err(
                    "spec.rollout.maxSurge: containers keep their names, so only 0 (use \
                     maxUnavailable)"
                        .into(),
                );
            }
            other => return Err(format!("spec.rollout.{other}: unknown field")),
        }
    }
    match rollout.get("maxUnavailable") {
        None | Some(Value::Null) => Ok(1),
        Some(v) => uint(v)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=MAX_REPLICAS).contains(n))
            .ok_or(format!(
                "spec.rollout.maxUnavailable: an integer from 1 to {MAX_REPLICAS}"
            )),
    }
}

fn replicas(obj: &Map<String, Value>) -> Result<u32, String> {
    match obj.get("replicas") {
        None | Some(Value::Null) => Ok(1),
        Some(v) => {
            let n = uint(v).ok_or("spec.replicas: not a non-negative integer")?;
            u32::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_REPLICAS)
                .ok_or(format!("spec.replicas: at most {MAX_REPLICAS}"))
        }
    }
}

fn docker_templates(obj: &Map<String, Value>) -> Result<Vec<Template>, String> {
    let instances = match obj.get("instances") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err("spec.instances: at least one instance is required".into());
        }
        Some(_) => return Err("spec.instances: not an array".into()),
    };
    let mut out: Vec<Template> = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let path = format!("spec.instances[{i}]");
        let o = inst.as_object().ok_or(format!("{path}: not an object"))?;
        let name = opt_str(o, "name", &path)?
            .filter(|s| !s.is_empty())
            .ok_or(format!("{path}.name: required"))?;
        if out
            .iter()
            .any(|t| t.instance.as_deref() == Some(name.as_str()))
        {
            return Err(format!("{path}.name: duplicate instance name {name:?}"));
        }
        if let Some(t) = opt_str(o, "type", &path)?
            && t != "container"
        {
            return Err(format!(
                "{path}.type: only \"container\" is supported, not {t:?}"
            ));
        }
        let mut t = common_template(o, &path, "environment")?;
        t.instance = Some(name);
        t.ports = docker_ports(o.get("ports"), &format!("{path}.ports"))?;
        out.push(t);
    }
    Ok(out)
}

fn executor_template(obj: &Map<String, Value>) -> Result<Template, String> {
    let path = "spec";
    let executor_type = opt_str(obj, "executorType", path)?
        .filter(|s| !s.is_empty())
        .ok_or("spec.executorType: required")?;
    let mut t = common_template(obj, path, "env")?;
    t.ports = executor_ports(obj.get("ports"))?;
    t.nano_cpus = match obj.get("cpu") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_cpu(v).ok_or("spec.cpu: expected e.g. 2, 0.5 or \"500m\"")?),
    };
    t.memory_bytes = match obj.get("memory") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_memory(v).ok_or("spec.memory: expected e.g. \"512Mi\" or \"1G\"")?),
    };
    let names = match obj.get("executorNames") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => string_list(v, "spec.executorNames")?,
    };
    t.executor = Some(ExecutorIdentity {
        executor_type,
        names,
        name: opt_str(obj, "executorName", path)?.filter(|s| !s.is_empty()),
    });
    Ok(t)
}

/// Fields shared by a `DockerDeployment` instance and an `ExecutorDeployment` spec.
fn common_template(o: &Map<String, Value>, path: &str, env_key: &str) -> Result<Template, String> {
    let image = opt_str(o, "image", path)?
        .filter(|s| !s.trim().is_empty())
        .ok_or(format!("{path}.image: required"))?;
    let mut env = BTreeMap::new();
    for key in [env_key, "env", "environment"] {
        if let Some(v) = o.get(key) {
            for (k, v) in env_map(v, &format!("{path}.{key}"))? {
                env.entry(k).or_insert(v);
            }
        }
    }
    let entrypoint = opt_list(o, "command", path)?;
    let cmd = opt_list(o, "args", path)?;
    let privileged = match o.get("privileged") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(_) => return Err(format!("{path}.privileged: not a boolean")),
    };
    let network_mode = opt_str(o, "networkMode", path)?.filter(|s| !s.is_empty());
    let volumes = volumes(o.get("volumes"), &format!("{path}.volumes"))?;
    let health_check = health::health_check(o, path)?;
    Ok(Template {
        image: image.trim().to_string(),
        env,
        entrypoint,
        cmd,
        privileged,
        network_mode,
        volumes,
        health_check,
        ..Template::default()
    })
}

fn docker_ports(v: Option<&Value>, path: &str) -> Result<Vec<PortSpec>, String> {
    let Some(items) = array(v, path)? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = format!("{path}[{i}]");
            let o = p.as_object().ok_or(format!("{path}: not an object"))?;
            let container = port(o.get("container"), &format!("{path}.container"))?
                .ok_or(format!("{path}.container: required"))?;
            let host = port(o.get("host"), &format!("{path}.host"))?;
            Ok(PortSpec {
                name: opt_str(o, "name", &path)?,
                host,
                container,
                protocol: protocol(o, &path)?,
            })
        })
        .collect()
}

fn executor_ports(v: Option<&Value>) -> Result<Vec<PortSpec>, String> {
    let path = "spec.ports";
    let Some(items) = array(v, path)? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = format!("{path}[{i}]");
            let o = p.as_object().ok_or(format!("{path}: not an object"))?;
            let port = port(o.get("port"), &format!("{path}.port"))?
                .ok_or(format!("{path}.port: required"))?;
            Ok(PortSpec {
                name: opt_str(o, "name", &path)?,
                host: Some(port),
                container: port,
                protocol: protocol(o, &path)?,
            })
        })
        .collect()
}

fn protocol(o: &Map<String, Value>, path: &str) -> Result<String, String> {
    match opt_str(o, "protocol", path)?.map(|s| s.to_ascii_lowercase()) {
        None => Ok("tcp".into()),
        Some(p) if p.is_empty() => Ok("tcp".into()),
        Some(p) if p == "tcp" || p == "udp" => Ok(p),
        Some(p) => Err(format!("{path}.protocol: must be tcp or udp, not {p:?}")),
    }
}

fn port(v: Option<&Value>, path: &str) -> Result<Option<u16>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match uint(v) {
            Some(0) => Ok(None),
            Some(n) => u16::try_from(n)
                .map(Some)
                .map_err(|_| format!("{path}: not a port number")),
            None => Err(format!("{path}: not a port number")),
        },
    }
}

/// Volumes: `[{type: named|bind, name, hostPath, mountPath, readOnly}]` (`hostPath` is an
/// alias of the bind source), or COP-Pilot's `[{host, container}]` / `{host: container}`.
fn volumes(v: Option<&Value>, path: &str) -> Result<Vec<VolumeSpec>, String> {
    let items: Vec<(String, Value)> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{path}[{i}]"), v.clone()))
            .collect(),
        Some(Value::Object(m)) if !m.contains_key("mountPath") && !m.contains_key("container") => {
            // `{hostPath: mountPath}` map.
            m.iter()
                .map(|(k, v)| {
                    let mut o = Map::new();
                    o.insert("host".into(), Value::String(k.clone()));
                    o.insert("container".into(), v.clone());
                    (format!("{path}.{k}"), Value::Object(o))
                })
                .collect()
        }
        Some(o @ Value::Object(_)) => vec![(path.to_string(), o.clone())],
        Some(_) => return Err(format!("{path}: not an array")),
    };
    items.iter().map(|(p, v)| volume(v, p)).collect()
}

fn volume(v: &Value, path: &str) -> Result<VolumeSpec, String> {
    let o = v.as_object().ok_or(format!("{path}: not an object"))?;
    let target = opt_str(o, "mountPath", path)?
        .or(opt_str(o, "container", path)?)
        .ok_or(format!("{path}.mountPath: required"))?;
    if !target.starts_with('/') {
        return Err(format!("{path}.mountPath: must be an absolute path"));
    }
    let host_path = opt_str(o, "hostPath", path)?.or(opt_str(o, "host", path)?);
    let name = opt_str(o, "name", path)?;
    let kind = match opt_str(o, "type", path)?.as_deref() {
        Some("named") | Some("volume") => VolumeKind::Named,
        Some("bind") => VolumeKind::Bind,
        Some(other) => return Err(format!("{path}.type: must be named or bind, not {other:?}")),
        None if host_path.is_some() => VolumeKind::Bind,
        None => VolumeKind::Named,
    };
    let source = match kind {
        VolumeKind::Named => {
            let n = name.ok_or(format!("{path}.name: required for a named volume"))?;
            if !valid_volume_name(&n) {
                return Err(format!("{path}.name: {n:?} is not a valid volume name"));
            }
            n
        }
        VolumeKind::Bind => {
            let p = host_path
                .or(name)
                .ok_or(format!("{path}.hostPath: required for a bind volume"))?;
            if !p.starts_with('/') {
                return Err(format!("{path}.hostPath: must be an absolute path"));
            }
            p
        }
    };
    let read_only = match o.get("readOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("{path}.readOnly: not a boolean")),
    };
    Ok(VolumeSpec {
        kind,
        source,
        target,
        read_only,
    })
}

fn valid_volume_name(n: &str) -> bool {
    n.len() >= 2
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// CPUs as nano-CPUs: `2`, `0.5`, `"1.5"`, `"500m"`.
fn parse_cpu(v: &Value) -> Option<i64> {
    let cpus = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let s = s.trim();
            match s.strip_suffix('m') {
                Some(milli) => milli.parse::<f64>().ok()? / 1000.0,
                None => s.parse::<f64>().ok()?,
            }
        }
        _ => return None,
    };
    (cpus > 0.0 && cpus.is_finite()).then(|| (cpus * 1e9).round() as i64)
}

/// Memory as bytes: a number of bytes, or `"512Mi"`, `"1Gi"`, `"256M"`, `"64m"`, `"1k"`.
fn parse_memory(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().filter(|n| *n > 0),
        Value::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let num: f64 = num.parse().ok()?;
            let mult: f64 = match unit.to_ascii_lowercase().as_str() {
                "" | "b" => 1.0,
                "k" | "kb" => 1e3,
                "ki" => 1024.0,
                "m" | "mb" => 1e6,
                "mi" => 1024.0 * 1024.0,
                "g" | "gb" => 1e9,
                "gi" => 1024.0 * 1024.0 * 1024.0,
                _ => return None,
            };
            let bytes = (num * mult).round();
            (1.0..9.0e18).contains(&bytes).then_some(bytes as i64)
        }
        _ => None,
    }
}

fn uint(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn opt_str(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => scalar(v)
            .map(Some)
            .ok_or(format!("{path}.{key}: not a string")),
    }
}

fn opt_list(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<Vec<String>>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        // A single string is one argument (no shell splitting).
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => string_list(v, &format!("{path}.{key}")).map(Some),
    }
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v).ok_or(format!("{path}[{i}]: not a string")))
            .collect(),
        _ => Err(format!("{path}: not an array of strings")),
    }
}

fn env_map(v: &Value, path: &str) -> Result<BTreeMap<String, String>, String> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    return Err(format!("{path}: invalid variable name {k:?}"));
                }
                let value = match v {
                    Value::Null => String::new(),
                    v => scalar(v).ok_or(format!("{path}.{k}: not a string"))?,
                };
                Ok((k.clone(), value))
            })
            .collect(),
        _ => Err(format!("{path}: not an object")),
    }
}

fn array<'a>(v: Option<&'a Value>, path: &str) -> Result<Option<&'a Vec<Value>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(format!("{path}: not an array")),
    }
}

#[cfg(test)]
mod tests;
