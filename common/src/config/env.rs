//! The environment layer: one figment provider per `MAESTRO_*` variable, so an error names the
//! variable itself.

use super::ENV_NESTING;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

/// One environment variable setting the key `path` (dotted).
struct EnvVar {
    name: String,
    path: String,
    value: Value,
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = figment::util::nest(&self.path, self.value.clone())
            .into_dict()
            .ok_or_else(|| figment::Error::from(format!("{}: empty key", self.name)))?;
        Ok(Profile::Default.collect(dict))
    }
}

/// The key path a variable sets, when it is one of ours: `PREFIX_A__B` -> `a.b`, only when `a`
/// is a top-level key of `defaults`.
fn key_path(name: &str, prefix: &str, defaults: &Value) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    let parts: Vec<String> = rest
        .split(ENV_NESTING)
        .map(|p| p.to_ascii_lowercase())
        .collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let top = defaults.as_dict()?;
    if !top.contains_key(&parts[0]) {
        return None;
    }
    Some(parts.join("."))
}

/// Merges every variable of `env` that names a key of `defaults` into `figment`, in name order
/// (so the result does not depend on the order of the environment).
pub(super) fn merge(
    mut figment: Figment,
    prefix: &str,
    env: &[(String, String)],
    defaults: &Value,
) -> Figment {
    let mut vars: Vec<&(String, String)> = env.iter().collect();
    vars.sort();
    for (name, raw) in vars {
        let Some(path) = key_path(name, prefix, defaults) else {
            continue;
        };
        let is_text = matches!(defaults.find_ref(&path), Some(Value::String(..)));
        let value = if is_text {
            Value::from(raw.clone())
        } else {
            raw.parse::<Value>()
                .unwrap_or_else(|_| Value::from(raw.clone()))
        };
        figment = figment.merge(EnvVar {
            name: name.clone(),
            path,
            value,
        });
    }
    figment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Value {
        Value::serialize(serde_json::json!({"git_remote": "", "labels": {}, "retries": 1})).unwrap()
    }

    #[test]
    fn names_map_to_nested_key_paths_of_known_fields() {
        let d = defaults();
        assert_eq!(
            key_path("MAESTRO_GIT_REMOTE", "MAESTRO_", &d).as_deref(),
            Some("git_remote")
        );
        assert_eq!(
            key_path("MAESTRO_LABELS__TIER", "MAESTRO_", &d).as_deref(),
            Some("labels.tier")
        );
        assert_eq!(key_path("MAESTRO_ADDR", "MAESTRO_", &d), None);
        assert_eq!(key_path("MAESTRO_LABELS__", "MAESTRO_", &d), None);
        assert_eq!(key_path("OTHER_RETRIES", "MAESTRO_", &d), None);
    }
}
