//! Where a component's TLS material is, as written in its configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Largest PEM file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// How often the files are checked for a change unless configured.
pub const DEFAULT_RELOAD_SECS: u64 = 10;

/// Where a component's TLS material is. Either `insecure` or all of `ca`, `cert` and `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM bundle of the CA(s) that sign peers' certificates.
    pub ca: Option<PathBuf>,
    /// PEM certificate chain of this component.
    pub cert: Option<PathBuf>,
    /// PEM private key of this component.
    pub key: Option<PathBuf>,
    /// Plaintext, unauthenticated and unauthorized; for development only (a warning is logged
    /// at start).
    pub insecure: bool,
    /// The name a client checks in the servers' certificates instead of the host of the
    /// endpoint (e.g. when dialling an address the certificate does not name).
    pub server_name: Option<String>,
    /// Seconds between checks of the files for a new certificate, key or CA (1 to 3600).
    pub reload_secs: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            ca: None,
            cert: None,
            key: None,
            insecure: false,
            server_name: None,
            reload_secs: DEFAULT_RELOAD_SECS,
        }
    }
}

/// Why TLS material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is too large, not PEM, or holds nothing usable.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The certificate cannot be used with this CA or at this time.
    #[error("certificate {path}: {reason}")]
    Rejected {
        /// The certificate file.
        path: String,
        /// Why (expired, not yet valid, not signed by the CA, no identity).
        reason: String,
    },
}

/// The PEM bytes of the three files, as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemFiles {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl TlsSettings {
    /// Plaintext settings, for development and tests.
    pub fn insecure() -> Self {
        Self {
            insecure: true,
            ..Self::default()
        }
    }

    /// Mutual TLS with the three files.
    pub fn files(
        ca: impl Into<PathBuf>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        Self {
            ca: Some(ca.into()),
            cert: Some(cert.into()),
            key: Some(key.into()),
            ..Self::default()
        }
    }

    /// Checks that the settings are usable; errors name `<field>.<key>`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if !(1..=3600).contains(&self.reload_secs) {
            return Err(FieldError::new(
                format!("{field}.reload_secs"),
                "must be between 1 and 3600",
            ));
        }
        if let Some(name) = &self.server_name
            && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
        {
            return Err(FieldError::new(
                format!("{field}.server_name"),
                "must be a DNS name or an IP address",
            ));
        }
        let set = [
            ("ca", self.ca.is_some()),
            ("cert", self.cert.is_some()),
            ("key", self.key.is_some()),
        ];
        if self.insecure {
            return match set.iter().find(|(_, s)| *s) {
                Some((k, _)) => Err(FieldError::new(
                    format!("{field}.{k}"),
                    "must not be set together with insecure",
                )),
                None => Ok(()),
            };
        }
        match set.iter().find(|(_, s)| !*s) {
            Some((k, _)) => Err(FieldError::new(
                format!("{field}.{k}"),
                "required (or set insecure: true for plaintext, development only)",
            )),
            None => Ok(()),
        }
    }

    /// How often the files are checked for a change.
    pub fn reload_interval(&self) -> Duration {
        Duration::from_secs(self.reload_secs.clamp(1, 3600))
    }

    pub(crate) fn cert_path(&self) -> String {
        shown(&self.cert)
    }

    pub(crate) fn ca_path(&self) -> String {
        shown(&self.ca)
    }

    /// Reads the three files.
    pub(crate) fn read(&self) -> Result<PemFiles, TlsError> {
        let path = |p: &Option<PathBuf>, key: &str| {
            p.clone().ok_or_else(|| TlsError::Invalid {
                path: key.to_string(),
                reason: "not set".into(),
            })
        };
        Ok(PemFiles {
            ca: read_pem(&path(&self.ca, "ca")?)?,
            cert: read_pem(&path(&self.cert, "cert")?)?,
            key: read_pem(&path(&self.key, "key")?)?,
        })
    }
}

fn shown(p: &Option<PathBuf>) -> String {
    p.as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| TlsError::Read {
        path: shown.clone(),
        source,
    })?;
    if meta.len() > MAX_PEM_BYTES {
        return Err(TlsError::Invalid {
            path: shown,
            reason: format!("larger than {MAX_PEM_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: shown.clone(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(TlsError::Invalid {
            path: shown,
            reason: "not a PEM file".into(),
        });
    }
    Ok(bytes)
}
