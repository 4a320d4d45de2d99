//! CLI settings: defaults < settings file < `MAESTRO_*` environment < flags, layered by
//! `maestro_common::config` like every component's config.

use crate::error::{CliError, CliResult};
use crate::output::Output;
use maestro_common::FieldError;
use maestro_common::config::{Flags, Sources, Validate, load_validated};
use maestro_common::tls::TlsSettings;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Maestro endpoint used when nothing else is configured.
pub const DEFAULT_MAESTRO: &str = "http://127.0.0.1:7200";
/// Call timeout used when nothing else is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolved settings of the client commands.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Maestro's gRPC endpoint.
    pub maestro: String,
    /// Output format.
    pub output: Output,
    /// Timeout of each unary call (and of opening a stream).
    pub timeout: Duration,
    /// Mutual TLS with maestro: the operator's certificate, key and CA; set exactly when
    /// `maestro` is an `https://` endpoint.
    pub tls: Option<TlsSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            maestro: DEFAULT_MAESTRO.into(),
            output: Output::Table,
            timeout: DEFAULT_TIMEOUT,
            tls: None,
        }
    }
}

/// The settings as layered by `maestro_common::config`: keys of the settings file and of the
/// `MAESTRO_MAESTRO` (or `MAESTRO_ADDR`), `MAESTRO_OUTPUT`, `MAESTRO_TIMEOUT` variables.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Layered {
    maestro: String,
    output: String,
    timeout: TimeoutValue,
    tls: ClientTls,
}

/// `tls:` of the settings: the operator's files (used with an `https://` endpoint).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ClientTls {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
}

impl Default for Layered {
    fn default() -> Self {
        Self {
            maestro: DEFAULT_MAESTRO.into(),
            output: "table".into(),
            timeout: TimeoutValue::Seconds(DEFAULT_TIMEOUT.as_secs_f64()),
            tls: ClientTls::default(),
        }
    }
}

/// `timeout:` as seconds (`2.5`) or a duration text (`500ms`, `10s`, `2m`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum TimeoutValue {
    Seconds(f64),
    Text(String),
}

impl Layered {
    /// The typed settings, or the key that cannot be used and why.
    fn settings(&self) -> Result<Settings, FieldError> {
        use clap::ValueEnum;
        let output = Output::from_str(&self.output, true).map_err(|_| {
            FieldError::new(
                "output",
                format!("{:?} is not one of table, json, yaml", self.output),
            )
        })?;
        let timeout = match &self.timeout {
            TimeoutValue::Seconds(secs) if secs.is_finite() && *secs > 0.0 && *secs < 1e9 => {
                Duration::from_secs_f64(*secs)
            }
            TimeoutValue::Seconds(secs) => {
                return Err(FieldError::new(
                    "timeout",
                    format!("{secs} must be a positive number of seconds"),
                ));
            }
            TimeoutValue::Text(text) => {
                crate::args::parse_duration(text).map_err(|e| FieldError::new("timeout", e))?
            }
        };
        if !(self.maestro.starts_with("http://") || self.maestro.starts_with("https://")) {
            return Err(FieldError::new(
                "maestro",
                format!(
                    "endpoint {:?} must start with http:// or https://",
                    self.maestro
                ),
            ));
        }
        let tls = if self.maestro.starts_with("https://") {
            let tls = TlsSettings {
                ca: self.tls.ca.clone(),
                cert: self.tls.cert.clone(),
                key: self.tls.key.clone(),
                server_name: self.tls.server_name.clone(),
                ..TlsSettings::default()
            };
            tls.validate("tls").map_err(|e| {
                if !e.reason.starts_with("required") {
                    return e;
                }
                let flag = e.field.replace("tls.", "--tls-");
                let var = format!("MAESTRO_{}", e.field.replace('.', "__").to_uppercase());
                FieldError::new(
                    &e.field,
                    format!("required for an https:// maestro (settings key, {var} or {flag})"),
                )
            })?;
            Some(tls)
        } else {
            None
        };
        Ok(Settings {
            maestro: self.maestro.clone(),
            output,
            timeout,
            tls,
        })
    }
}

impl Validate for Layered {
    fn validate(&self) -> Result<(), FieldError> {
        self.settings().map(|_| ())
    }
}

/// Values given as flags (only those the user set).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--maestro`.
    pub maestro: Option<String>,
    /// `-o`.
    pub output: Option<Output>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--tls-ca`.
    pub tls_ca: Option<PathBuf>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
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

fn shown(path: Option<PathBuf>) -> Option<String> {
    path.map(|p| p.display().to_string())
}

/// Resolves settings with the process environment: `file` must exist when given explicitly;
/// otherwise the default file is read when present. Errors are configuration errors (exit 64).
pub fn resolve(explicit_file: Option<&Path>, overrides: Overrides) -> CliResult<Settings> {
    resolve_with(
        explicit_file,
        maestro_common::config::process_env(),
        overrides,
    )
}

/// [`resolve`] with the environment given as pairs (tests never touch the process's).
pub fn resolve_with(
    explicit_file: Option<&Path>,
    mut env: Vec<(String, String)>,
    overrides: Overrides,
) -> CliResult<Settings> {
    let file = match explicit_file {
        Some(path) => Some(path.to_path_buf()),
        None => default_file().filter(|p| p.is_file()),
    };
    // `MAESTRO_ADDR` is the CLI's historical name of the `maestro` key.
    if !env.iter().any(|(k, _)| k == "MAESTRO_MAESTRO")
        && let Some((_, v)) = env.iter().find(|(k, _)| k == "MAESTRO_ADDR")
    {
        env.push(("MAESTRO_MAESTRO".into(), v.clone()));
    }
    let flags = Flags::new()
        .set("maestro", overrides.maestro)
        .set(
            "output",
            overrides.output.map(|o| match o {
                Output::Table => "table",
                Output::Json => "json",
                Output::Yaml => "yaml",
            }),
        )
        .set(
            "timeout",
            overrides
                .timeout
                .map(|t| format!("{}ms", t.as_millis().max(1))),
        )
        .set("tls.ca", shown(overrides.tls_ca))
        .set("tls.cert", shown(overrides.tls_cert))
        .set("tls.key", shown(overrides.tls_key));
    let sources = Sources { file, env, flags };
    let layered: Layered =
        load_validated(&sources).map_err(|e| CliError::Config(format!("settings: {e}")))?;
    layered
        .settings()
        .map_err(|e| CliError::Config(format!("settings: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn precedence_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, "maestro: http://file:1\noutput: yaml\ntimeout: 3s\n").unwrap();
        let s = resolve_with(Some(&file), Vec::new(), Overrides::default()).unwrap();
        assert_eq!(
            s,
            Settings {
                maestro: "http://file:1".into(),
                output: Output::Yaml,
                timeout: Duration::from_secs(3),
                tls: None,
            }
        );
        let vars = env(&[("MAESTRO_OUTPUT", "json"), ("MAESTRO_TIMEOUT", "4s")]);
        let s = resolve_with(Some(&file), vars.clone(), Overrides::default()).unwrap();
        assert_eq!(s.output, Output::Json, "env overrides the file");
        assert_eq!(s.timeout, Duration::from_secs(4));
        let s = resolve_with(
            Some(&file),
            vars,
            Overrides {
                maestro: Some("http://flag:2".into()),
                output: None,
                timeout: Some(Duration::from_secs(1)),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(s.maestro, "http://flag:2");
        assert_eq!(s.output, Output::Json, "an unset flag overrides nothing");
        assert_eq!(s.timeout, Duration::from_secs(1), "a flag overrides env");
        std::fs::write(&file, "timeout: 2.5\n").unwrap();
        let s = resolve_with(Some(&file), Vec::new(), Overrides::default()).unwrap();
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.maestro, DEFAULT_MAESTRO);
    }

    #[test]
    fn an_https_maestro_needs_the_operator_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(
            &file,
            "maestro: https://m:1\ntls: {ca: ca.pem, cert: op.pem}\n",
        )
        .unwrap();
        let e = resolve_with(Some(&file), Vec::new(), Overrides::default()).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(
            e.to_string().contains("tls.key") && e.to_string().contains("--tls-key"),
            "{e}"
        );
        let s = resolve_with(
            Some(&file),
            env(&[("MAESTRO_TLS__KEY", "env.key")]),
            Overrides {
                tls_ca: Some("flag-ca.pem".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        let tls = s.tls.unwrap();
        assert_eq!(
            tls.ca.unwrap(),
            PathBuf::from("flag-ca.pem"),
            "a flag overrides the file"
        );
        assert_eq!(tls.cert.unwrap(), PathBuf::from("op.pem"));
        assert_eq!(tls.key.unwrap(), PathBuf::from("env.key"));
        // Plaintext endpoints take no certificate.
        std::fs::write(&file, "maestro: http://m:1\n").unwrap();
        let s = resolve_with(Some(&file), Vec::new(), Overrides::default()).unwrap();
        assert!(s.tls.is_none());
    }

    #[test]
    fn maestro_addr_still_names_the_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, "maestro: http://file:1\n").unwrap();
        let s = resolve_with(
            Some(&file),
            env(&[("MAESTRO_ADDR", "http://env:3"), ("MAESTRO_LISTEN", "x")]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.maestro, "http://env:3");
    }

    #[test]
    fn bad_settings_are_config_errors_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, "maestro: http://x:1\nmaestr: typo\n").unwrap();
        let e = resolve_with(Some(&file), Vec::new(), Overrides::default()).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("maestr"), "{e}");
        let missing = dir.path().join("missing.yaml");
        let e = resolve_with(Some(&missing), Vec::new(), Overrides::default()).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        let e = resolve_with(
            None,
            Vec::new(),
            Overrides {
                maestro: Some("localhost:1".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("maestro"), "{e}");
        let e = resolve_with(
            None,
            env(&[("MAESTRO_OUTPUT", "xml")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("output"), "{e}");
        let e = resolve_with(
            None,
            env(&[("MAESTRO_TIMEOUT", "soon")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("timeout"), "{e}");
    }
}
