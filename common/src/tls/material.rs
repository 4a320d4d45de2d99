//! TLS material parsed and checked once: the CA roots, this component's chain and key, its own
//! identity, and the rustls server and client configurations built from them.
//!
//! Invariants: material is built only from a certificate that is valid now, chains to the
//! configured CA, and names exactly one Maestro identity; the server configuration always
//! requires a client certificate signed by that CA.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;

use super::settings::{PemFiles, TlsError};
use crate::identity::PeerIdentity;

/// The protocol spoken inside TLS: gRPC is HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// Checked TLS material of one component.
#[derive(Debug)]
pub(crate) struct Material {
    pub identity: PeerIdentity,
    pub not_after: SystemTime,
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &[u8], path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Invalid {
            path: path.to_string(),
            reason: "holds no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

impl Material {
    /// Parses and checks `files` at time `now`; `cert_path` and `ca_path` name the files in
    /// errors.
    pub fn build(
        files: &PemFiles,
        cert_path: &str,
        ca_path: &str,
        now: SystemTime,
    ) -> Result<Self, TlsError> {
        let rejected = |reason: String| TlsError::Rejected {
            path: cert_path.to_string(),
            reason,
        };
        let ca = certs(&files.ca, ca_path)?;
        let chain = certs(&files.cert, cert_path)?;
        let key = PrivateKeyDer::from_pem_slice(&files.key).map_err(|e| TlsError::Invalid {
            path: "key".into(),
            reason: e.to_string(),
        })?;
        let mut roots = RootCertStore::empty();
        for cert in &ca {
            roots.add(cert.clone()).map_err(|e| TlsError::Invalid {
                path: ca_path.to_string(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        let roots = Arc::new(roots);

        let (not_before, not_after) = validity(&chain[0]).map_err(rejected)?;
        if now < not_before {
            return Err(rejected(format!("not valid before {}", shown(not_before))));
        }
        if now > not_after {
            return Err(rejected(format!("expired at {}", shown(not_after))));
        }
        let identity = PeerIdentity::from_certificate(chain[0].as_ref())
            .map_err(|e| rejected(e.to_string()))?;

        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Invalid {
                path: ca_path.to_string(),
                reason: e.to_string(),
            })?;
        let unix = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
        match verifier.verify_client_cert(&chain[0], &chain[1..], unix) {
            Ok(_) => {}
            // A server-only certificate still proves that it chains to the CA.
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::InvalidPurpose)) => {}
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature,
            )) => {
                return Err(rejected(format!(
                    "not signed by the CA in {ca_path} (was the CA replaced?)"
                )));
            }
            Err(e) => return Err(rejected(e.to_string())),
        }

        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| rejected(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| rejected(format!("does not match its key: {e}")))?;
        server.alpn_protocols = vec![ALPN_H2.to_vec()];
        let mut client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| rejected(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| rejected(format!("does not match its key: {e}")))?;
        client.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Self {
            identity,
            not_after,
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }
}

/// The validity period of a DER certificate.
fn validity(der: &CertificateDer<'_>) -> Result<(SystemTime, SystemTime), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    let at = |t: x509_parser::time::ASN1Time| {
        let secs = t.timestamp();
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH
        }
    };
    Ok((
        at(cert.validity().not_before),
        at(cert.validity().not_after),
    ))
}

fn shown(t: SystemTime) -> String {
    let millis = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    crate::time::rfc3339(millis)
}
