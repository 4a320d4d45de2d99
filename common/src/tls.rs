//! Mutual TLS for every gRPC hop: a component's TLS settings (PEM files of its CA bundle, its
//! certificate and its key, or an explicit `insecure`), the server and client configurations
//! built from them (rustls through tonic; a server always requires a client certificate signed by
//! the CA), and the caller's [`PeerIdentity`] read from its verified certificate.
//!
//! Invariants: there is no way to get a TLS server that accepts a client without a certificate;
//! plaintext happens only with `insecure: true`, which callers log as a warning at start; the
//! identity comes from the certificate the handshake verified, never from the request.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::FieldError;
use crate::identity::PeerIdentity;

/// Largest PEM file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Where a component's TLS material is. Either `insecure` or all of `ca`, `cert` and `key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM bundle of the CA(s) that sign peers' certificates.
    pub ca: Option<PathBuf>,
    /// PEM certificate chain of this component.
    pub cert: Option<PathBuf>,
    /// PEM private key of this component.
    pub key: Option<PathBuf>,
    /// Plaintext and unauthenticated; for development only (a warning is logged at start).
    pub insecure: bool,
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
    /// A file is too large or not PEM.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl TlsSettings {
    /// Checks that the settings are usable; errors name `<field>.<key>`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
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

    /// Reads the material; `None` for `insecure`.
    pub fn load(&self) -> Result<Option<TlsMaterial>, TlsError> {
        if self.insecure {
            return Ok(None);
        }
        let path = |p: &Option<PathBuf>, key: &str| {
            p.clone().ok_or_else(|| TlsError::Invalid {
                path: key.to_string(),
                reason: "not set".into(),
            })
        };
        let (ca, cert, key) = (
            read_pem(&path(&self.ca, "ca")?)?,
            read_pem(&path(&self.cert, "cert")?)?,
            read_pem(&path(&self.key, "key")?)?,
        );
        Ok(Some(TlsMaterial::from_pem(&ca, &cert, &key)))
    }
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

/// Loaded TLS material of one component.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    ca: Certificate,
    identity: Identity,
}

impl TlsMaterial {
    /// From PEM bytes of the CA bundle, the certificate chain and the key.
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Self {
        Self {
            ca: Certificate::from_pem(ca),
            identity: Identity::from_pem(cert, key),
        }
    }

    /// A server configuration that presents this component's certificate and requires every
    /// client to present one signed by the CA.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(false)
    }

    /// A client configuration that trusts only the CA and presents this component's
    /// certificate; `server_name` overrides the name checked in the server's certificate.
    pub fn client(&self, server_name: Option<&str>) -> ClientTlsConfig {
        let config = ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone());
        match server_name {
            Some(name) => config.domain_name(name),
            None => config,
        }
    }
}

/// The identity of the caller of `request`, from the client certificate the TLS handshake
/// verified: `UNAUTHENTICATED` when there is none (a plaintext connection) or it names no single
/// Maestro identity.
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Result<PeerIdentity, tonic::Status> {
    let certs = request
        .peer_certs()
        .ok_or_else(|| tonic::Status::unauthenticated("no client certificate"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| tonic::Status::unauthenticated("no client certificate"))?;
    PeerIdentity::from_certificate(leaf.as_ref())
        .map_err(|e| tonic::Status::unauthenticated(format!("client certificate: {e}")))
}

#[cfg(test)]
mod tests;
