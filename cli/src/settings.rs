//! CLI settings: defaults < settings file < `MAESTRO_*` environment < flags.

use crate::error::{CliError, CliResult};
use crate::output::Output;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Maestro endpoint used when nothing else is configured.
pub const DEFAULT_MAESTRO: &str = "http://127.0.0.1:7200";
/// Call timeout used when nothing else is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest settings file read.
const MAX_SETTINGS_BYTES: u64 = 64 * 1024;

/// Resolved settings of the client commands.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Maestro's gRPC endpoint.
    pub maestro: String,
    /// Output format.
    pub output: Output,
    /// Timeout of each unary call (and of opening a stream).
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            maestro: DEFAULT_MAESTRO.into(),
            output: Output::Table,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The settings file (`~/.config/maestro/config.yaml`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    maestro: Option<String>,
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    timeout: Option<TimeoutValue>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum TimeoutValue {
    Seconds(f64),
    Text(String),
}

/// Values given as flags or `MAESTRO_*` variables (clap merges those two, flags first).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--maestro` / `MAESTRO_ADDR`.
    pub maestro: Option<String>,
    /// `-o` / `MAESTRO_OUTPUT`.
    pub output: Option<Output>,
    /// `--timeout` / `MAESTRO_TIMEOUT`.
    pub timeout: Option<Duration>,
}

/// The default settings file: `$XDG_CONFIG_HOME/maestro/config.yaml` or `~/.config/maestro/config.yaml`.
pub fn default_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("maestro").join("config.yaml"))
}

/// Resolves settings: `file` must exist when given explicitly; otherwise the default file is read
/// when present. Errors are configuration errors (exit 64).
pub fn resolve(explicit_file: Option<&Path>, overrides: Overrides) -> CliResult<Settings> {
    let file = match explicit_file {
        Some(path) => Some(read_file(path)?),
        None => match default_file().filter(|p| p.is_file()) {
            Some(path) => Some(read_file(&path)?),
            None => None,
        },
    }
    .unwrap_or_default();
    let mut s = Settings::default();
    if let Some(m) = file.maestro {
        s.maestro = m;
    }
    if let Some(o) = file.output {
        s.output = o;
    }
    if let Some(t) = file.timeout {
        s.timeout = match t {
            TimeoutValue::Seconds(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
                Duration::from_secs_f64(secs)
            }
            TimeoutValue::Seconds(secs) => {
                return Err(CliError::Config(format!(
                    "settings: timeout {secs} must be a positive number of seconds"
                )));
            }
            TimeoutValue::Text(text) => crate::args::parse_duration(&text)
                .map_err(|e| CliError::Config(format!("settings: timeout: {e}")))?,
        };
    }
    if let Some(m) = overrides.maestro {
        s.maestro = m;
    }
    if let Some(o) = overrides.output {
        s.output = o;
    }
    if let Some(t) = overrides.timeout {
        s.timeout = t;
    }
    if !(s.maestro.starts_with("http://") || s.maestro.starts_with("https://")) {
        return Err(CliError::Config(format!(
            "maestro endpoint {:?} must start with http:// or https://",
            s.maestro
        )));
    }
    Ok(s)
}

fn read_file(path: &Path) -> CliResult<SettingsFile> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Config(format!("reading settings {shown}: {e}")))?;
    let mut text = String::new();
    file.take(MAX_SETTINGS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Config(format!("reading settings {shown}: {e}")))?;
    if text.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(CliError::Config(format!(
            "settings {shown}: larger than {MAX_SETTINGS_BYTES} bytes"
        )));
    }
    if text.trim().is_empty() {
        return Ok(SettingsFile::default());
    }
    serde_yaml::from_str(&text).map_err(|e| CliError::Config(format!("settings {shown}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_defaults_file_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, "maestro: http://file:1\noutput: yaml\ntimeout: 3s\n").unwrap();
        let s = resolve(Some(&file), Overrides::default()).unwrap();
        assert_eq!(
            s,
            Settings {
                maestro: "http://file:1".into(),
                output: Output::Yaml,
                timeout: Duration::from_secs(3)
            }
        );
        let s = resolve(
            Some(&file),
            Overrides {
                maestro: Some("http://flag:2".into()),
                output: None,
                timeout: Some(Duration::from_secs(1)),
            },
        )
        .unwrap();
        assert_eq!(s.maestro, "http://flag:2");
        assert_eq!(s.output, Output::Yaml);
        assert_eq!(s.timeout, Duration::from_secs(1));
        std::fs::write(&file, "timeout: 2.5\n").unwrap();
        let s = resolve(Some(&file), Overrides::default()).unwrap();
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.maestro, DEFAULT_MAESTRO);
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, "maestro: http://x:1\nmaestr: typo\n").unwrap();
        let e = resolve(Some(&file), Overrides::default()).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("maestr"), "{e}");
        let e = resolve(Some(&dir.path().join("missing.yaml")), Overrides::default()).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        let e = resolve(
            None,
            Overrides {
                maestro: Some("localhost:1".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 64);
    }
}
