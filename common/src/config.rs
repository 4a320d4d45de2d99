//! Layered configuration: defaults, then a TOML/YAML/JSON file, then `MAESTRO_*` environment
//! variables, then command-line flags (applied by the caller).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::path::Path;

/// Why configuration could not be loaded. Binaries exit with status 64 on it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file or an environment variable did not parse or named an unknown key.
    #[error("invalid config {origin}: {reason}")]
    Invalid {
        /// Which file or variable.
        origin: String,
        /// What was wrong.
        reason: String,
    },
}

/// Exit status for invalid configuration (EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

/// Loads `T` from its serde defaults, `file` (by extension: .toml, .yaml/.yml, .json), and the
/// environment variables `PREFIX_KEY` for each top-level key (e.g. `MAESTRO_LISTEN`), whose
/// values are parsed as JSON when they parse, else taken as strings. `T` should use
/// `#[serde(default, deny_unknown_fields)]`.
pub fn load<T: DeserializeOwned + serde::Serialize + Default>(
    file: Option<&Path>,
    env_prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut merged = serde_json::to_value(T::default()).map_err(|e| invalid("defaults", e))?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let origin = path.display().to_string();
        let v: Value = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => toml::from_str(&text).map_err(|e| invalid(&origin, e))?,
            Some("json") => serde_json::from_str(&text).map_err(|e| invalid(&origin, e))?,
            _ => serde_yaml::from_str(&text).map_err(|e| invalid(&origin, e))?,
        };
        merge(&mut merged, v);
    }
    let keys: Vec<String> = merged
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut overlay = Map::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(env_prefix) else {
            continue;
        };
        let key = rest.to_ascii_lowercase();
        if !keys.contains(&key) {
            continue;
        }
        let value = serde_json::from_str(&raw).unwrap_or(Value::String(raw));
        overlay.insert(key, value);
    }
    merge(&mut merged, Value::Object(overlay));
    serde_json::from_value(merged).map_err(|e| invalid("merged config", e))
}

fn invalid(origin: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        reason: e.to_string(),
    }
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        listen: String,
        retries: u32,
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("maestro-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"a\"\nretries = 2\n").unwrap();
        let env = vec![
            ("MAESTRO_RETRIES".to_string(), "5".to_string()),
            ("OTHER".into(), "x".into()),
        ];
        let c: Cfg = load(Some(&file), "MAESTRO_", env).unwrap();
        assert_eq!(
            c,
            Cfg {
                listen: "a".into(),
                retries: 5
            }
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = std::env::temp_dir().join(format!("maestro-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(&file, "listen: a\nlisen: b\n").unwrap();
        let e = load::<Cfg>(Some(&file), "MAESTRO_", Vec::new()).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }
}
