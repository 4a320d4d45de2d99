//! Layered configuration, one loader for every component and the CLI (built on `figment`).
//!
//! Layers, later wins: the config type's serde defaults, then a file (TOML, YAML or JSON, chosen
//! by extension: `.toml`, `.json`, anything else is YAML), then environment variables
//! `MAESTRO_<KEY>`, then the command-line flags the user actually set.
//!
//! Environment names: the prefix [`ENV_PREFIX`], then the key path in upper case with
//! [`ENV_NESTING`] (`__`) between levels. `MAESTRO_GIT_REMOTE` sets `git_remote`;
//! `MAESTRO_LABELS__TIER=edge` sets `labels.tier`. Values are parsed like figment does (`true`,
//! `5`, `[a, b]`, `{k = v}`), except that a key whose default is a string always takes the raw
//! text, so `MAESTRO_REGION=123` is the string `"123"`. Variables whose first key is not a field
//! of the config are ignored, because components and `maestroctl` share the prefix
//! (`MAESTRO_ADDR` is the CLI's, not maestro's); below a known field, unknown keys are rejected.
//!
//! Invariants: the loader never reads the process environment itself (callers pass it in, see
//! [`Sources::from_process`]), so tests never touch it; every error names the key and the layer
//! it came from (file, variable or flag); invalid configuration exits with [`EXIT_CONFIG`].

mod env;
mod flags;

use crate::FieldError;
use figment::Figment;
use figment::providers::{Format, Json, Serialized, Toml, Yaml};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

pub use flags::Flags;

/// Exit status for invalid configuration (EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;
/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "MAESTRO_";
/// Separator of nesting levels in environment variable names (`MAESTRO_DOCKER__SOCKET`).
pub const ENV_NESTING: &str = "__";
/// Largest config file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

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
    /// A layer did not parse, named an unknown key or gave a value of the wrong type.
    #[error("{}{reason} (from {origin})", field_prefix(field))]
    Invalid {
        /// Dotted path of the key (empty when the whole source failed to parse).
        field: String,
        /// The layer: the file, the environment variable or the flag.
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// The merged config was rejected by the component's [`Validate::validate`].
    #[error("{0}")]
    Rejected(#[from] FieldError),
}

impl ConfigError {
    /// The offending key, when one is known.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Invalid { field, .. } => Some(field).filter(|f| !f.is_empty()),
            ConfigError::Rejected(e) => Some(&e.field),
        }
        .map(String::as_str)
    }
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// Checks a merged config: the one place a component states which values it cannot work with.
pub trait Validate {
    /// `Ok` when every value is usable; otherwise the first offending key and why.
    fn validate(&self) -> Result<(), FieldError>;
}

/// Where a config comes from, apart from its defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The config file, when one was given (it must then exist).
    pub file: Option<PathBuf>,
    /// The environment as `(name, value)` pairs; only `MAESTRO_*` names are looked at.
    pub env: Vec<(String, String)>,
    /// Values of the flags the user set.
    pub flags: Flags,
}

impl Sources {
    /// `file` and `flags` with the process environment (non-UTF-8 variables are skipped).
    pub fn from_process(file: Option<PathBuf>, flags: Flags) -> Self {
        Self {
            file,
            env: process_env(),
            flags,
        }
    }
}

/// The process environment as UTF-8 pairs; the only place the loader's callers read it.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Loads `T` from its defaults, `sources.file`, the `MAESTRO_*` variables of `sources.env` and
/// `sources.flags`. `T` should use `#[serde(default, deny_unknown_fields)]`.
pub fn load<T: DeserializeOwned + Serialize + Default>(
    sources: &Sources,
) -> Result<T, ConfigError> {
    load_with_prefix(sources, ENV_PREFIX)
}

/// [`load`], then `T::validate`.
pub fn load_validated<T>(sources: &Sources) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default + Validate,
{
    let config: T = load(sources)?;
    config.validate()?;
    Ok(config)
}

/// [`load`] with another environment prefix (e.g. for tools with their own namespace).
pub fn load_with_prefix<T: DeserializeOwned + Serialize + Default>(
    sources: &Sources,
    env_prefix: &str,
) -> Result<T, ConfigError> {
    let defaults =
        figment::value::Value::serialize(T::default()).map_err(|e| ConfigError::Invalid {
            field: String::new(),
            origin: "defaults".into(),
            reason: e.to_string(),
        })?;
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = &sources.file {
        figment = with_file(figment, path)?;
    }
    figment = env::merge(figment, env_prefix, &sources.env, &defaults);
    figment = sources.flags.merge_into(figment);
    figment.extract::<T>().map_err(from_figment)
}

fn with_file(figment: Figment, path: &Path) -> Result<Figment, ConfigError> {
    use std::io::Read;
    let read = |source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::Invalid {
            field: String::new(),
            origin: path.display().to_string(),
            reason: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    if text.trim().is_empty() {
        return Ok(figment);
    }
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => figment.merge(Toml::file_exact(path)),
        Some("json") => figment.merge(Json::file_exact(path)),
        _ => figment.merge(Yaml::file_exact(path)),
    })
}

/// The first error of a figment failure, with its key path and the layer that supplied it.
fn from_figment(e: figment::Error) -> ConfigError {
    let origin = match &e.metadata {
        Some(md) => match &md.source {
            Some(figment::Source::File(p)) => format!("{} {}", md.name, p.display()),
            _ => md.name.to_string(),
        },
        None => "merged config".to_string(),
    };
    let mut path = e.path.clone();
    if let figment::error::Kind::UnknownField(name, _) = &e.kind
        && path.last() != Some(name)
    {
        path.push(name.clone());
    }
    ConfigError::Invalid {
        field: path.join("."),
        origin,
        reason: one_line(&e.kind.to_string()),
    }
}

/// Folds a multi-line parser message (TOML points at the column) into one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
