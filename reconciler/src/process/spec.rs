//! The `ProcessDeployment` spec: what to run and how many.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::values::scalar;

/// Kind handled by the process reconciler.
pub const KIND: &str = "ProcessDeployment";
/// Executor type of the process reconciler.
pub const EXECUTOR_TYPE: &str = "process-reconciler";

/// Most replicas one blueprint may ask for.
pub const MAX_REPLICAS: u32 = 256;

/// A validated `ProcessDeployment` spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Program to run (absolute path or looked up in PATH).
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Number of instances.
    pub replicas: u32,
    /// Working directory; the agent's when absent.
    pub working_dir: Option<String>,
    /// How a change of what runs is rolled out.
    pub rollout: Rollout,
    /// What makes an instance healthy (not part of the template: changing it restarts nothing).
    pub health: Option<super::health::HealthCheck>,
}

/// How instances are replaced when what they run changes (`spec.rollout`): at most `max_surge`
/// instances above `replicas` and at most `max_unavailable` below it at any time, each new
/// instance alive for `min_ready_ms` before the next step. A change of `replicas` alone never
/// replaces an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// `maxSurge` (default 1).
    pub max_surge: u32,
    /// `maxUnavailable` (default 0).
    pub max_unavailable: u32,
    /// `minReadySeconds` in milliseconds (default 0).
    pub min_ready_ms: u64,
}

impl Default for Rollout {
    fn default() -> Self {
        Self {
            max_surge: 1,
            max_unavailable: 0,
            min_ready_ms: 0,
        }
    }
}

/// Longest `minReadySeconds`.
const MAX_MIN_READY_SECS: u64 = 600;

impl Rollout {
    /// Parses `spec.rollout`; the error names the field.
    pub fn from_json(v: Option<&Value>) -> Result<Self, String> {
        let obj = match v {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(o)) => o,
            Some(_) => return Err("spec.rollout: not an object".into()),
        };
        if let Some(k) = obj.keys().find(|k| {
            !matches!(
                k.as_str(),
                "maxSurge" | "maxUnavailable" | "minReadySeconds"
            )
        }) {
            return Err(format!("spec.rollout.{k}: unknown field"));
        }
        let number = |key: &str, default: u64, max: u64| -> Result<u64, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| *n <= max)
                    .ok_or(format!("spec.rollout.{key}: an integer from 0 to {max}")),
            }
        };
        let max = u64::from(MAX_REPLICAS);
        let r = Self {
            max_surge: number("maxSurge", 1, max)? as u32,
            max_unavailable: number("maxUnavailable", 0, max)? as u32,
            min_ready_ms: number("minReadySeconds", 0, MAX_MIN_READY_SECS)? * 1000,
        };
        if r.max_surge == 0 && r.max_unavailable == 0 {
            return Err("spec.rollout: maxSurge and maxUnavailable cannot both be 0".into());
        }
        Ok(r)
    }
}

impl ProcessSpec {
    /// Validates a blueprint spec; the error names the field.
    pub fn from_json(spec: &Value) -> Result<Self, String> {
        let obj = spec.as_object().ok_or("spec: not an object")?;
        let command = obj
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if command.is_empty() {
            return Err("spec.command: required".to_string());
        }
        let args = match obj.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| scalar(v).ok_or_else(|| format!("spec.args[{i}]: not a string")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("spec.args: not an array".to_string()),
        };
        let env = match obj.get("env") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    if k.is_empty()
                        || k.contains('=')
                        || k.contains('\0')
                        || k.starts_with("MAESTRO_")
                    {
                        return Err(format!("spec.env: invalid or reserved name {k:?}"));
                    }
                    scalar(v)
                        .map(|s| (k.clone(), s))
                        .ok_or_else(|| format!("spec.env.{k}: not a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("spec.env: not an object".to_string()),
        };
        let replicas = match obj.get("replicas") {
            None | Some(Value::Null) => 1,
            Some(v) => {
                let n = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or("spec.replicas: not a non-negative integer")?;
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_REPLICAS)
                    .ok_or(format!("spec.replicas: at most {MAX_REPLICAS}"))?
            }
        };
        let working_dir = match obj.get("workingDir") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("spec.workingDir: not a string".to_string()),
        };
        Ok(Self {
            command: command.to_string(),
            args,
            env,
            replicas,
            working_dir,
            rollout: Rollout::from_json(obj.get("rollout"))?,
            health: super::health::HealthCheck::from_json(obj.get("healthCheck"))?,
        })
    }

    /// What an instance runs, as a hash: the command, arguments, environment and working
    /// directory (not `replicas` or `rollout`). Instances with the template of the spec are
    /// current whatever generation started them.
    pub fn template(&self) -> String {
        use sha2::{Digest, Sha256};
        let canonical = serde_json::json!({
            "command": self.command,
            "args": self.args,
            "env": self.env,
            "workingDir": self.working_dir,
        });
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_full_spec() {
        let s = ProcessSpec::from_json(&json!({"command": "/bin/sleep", "args": ["10", 5], "env": {"A": "b"}, "replicas": "3", "workingDir": "/tmp"})).unwrap();
        assert_eq!(s.args, vec!["10", "5"]);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.env["A"], "b");
        assert_eq!(s.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(
            ProcessSpec::from_json(&json!({"command": "x"}))
                .unwrap()
                .replicas,
            1
        );
    }

    #[test]
    fn replicas_and_rollout_do_not_change_the_template() {
        let a =
            ProcessSpec::from_json(&json!({"command": "/bin/sleep", "args": ["9"], "replicas": 2}))
                .unwrap();
        let b = ProcessSpec::from_json(
            &json!({"command": "/bin/sleep", "args": ["9"], "replicas": 3,
            "rollout": {"maxSurge": 0, "maxUnavailable": 1, "minReadySeconds": 2}}),
        )
        .unwrap();
        assert_eq!(a.template(), b.template());
        assert_eq!(
            b.rollout,
            Rollout {
                max_surge: 0,
                max_unavailable: 1,
                min_ready_ms: 2000
            }
        );
        assert_eq!(a.rollout, Rollout::default());
        let c = ProcessSpec::from_json(
            &json!({"command": "/bin/sleep", "args": ["9"], "env": {"A": "1"}}),
        )
        .unwrap();
        assert_ne!(a.template(), c.template());
        for (bad, field) in [
            (json!({"maxSurge": 0, "maxUnavailable": 0}), "both be 0"),
            (json!({"maxSurge": -1}), "maxSurge"),
            (json!({"minReadySeconds": 100000}), "minReadySeconds"),
            (json!({"surge": 1}), "rollout.surge"),
        ] {
            let e = ProcessSpec::from_json(&json!({"command": "x", "rollout": bad})).unwrap_err();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(
            ProcessSpec::from_json(&json!({}))
                .unwrap_err()
                .contains("command")
        );
        assert!(
            ProcessSpec::from_json(&json!({"command": "x", "replicas": -1}))
                .unwrap_err()
                .contains("replicas")
        );
        assert!(
            ProcessSpec::from_json(&json!({"command": "x", "env": {"MAESTRO_X": "1"}}))
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            ProcessSpec::from_json(&json!({"command": "x", "args": [{}]}))
                .unwrap_err()
                .contains("args[0]")
        );
    }
}
