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
        })
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
