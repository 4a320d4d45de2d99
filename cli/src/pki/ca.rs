//! The certificate authority of `pki init`: an ECDSA P-256 key, a self-signed CA certificate that
//! may sign leaf certificates only (path length 0), and `pki.json` recording the trust domain.
//!
//! Files in the PKI directory: `ca.pem` (certificate, 0644), `ca-key.pem` (private key, 0600),
//! `pki.json` (`{"trustDomain": "..."}`, 0644). `pki.json` is what `pki issue` reads the trust
//! domain from; the CA's subject also carries it (`O=<trust domain>`) for people reading it.

use super::files::{self, KEY_MODE, PUBLIC_MODE, PlannedFile};
use crate::error::{CliError, CliResult};
use maestro_common::identity::validate_trust_domain;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

/// File name of the CA certificate.
pub const CA_CERT: &str = "ca.pem";
/// File name of the CA's private key.
pub const CA_KEY: &str = "ca-key.pem";
/// File name of the PKI metadata.
pub const METADATA: &str = "pki.json";
/// Common name of every CA `pki init` creates.
pub const CA_COMMON_NAME: &str = "Maestro CA";
/// How far back `notBefore` is set, so peers with a slightly late clock accept a new certificate.
pub const BACKDATE_SECS: i64 = 300;
/// Longest validity accepted for any certificate (100 years).
pub const MAX_VALID_DAYS: u32 = 36_500;

/// `pki.json`: what `pki issue` needs besides the CA's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PkiMetadata {
    /// The trust domain of every identity this CA issues.
    pub trust_domain: String,
}

/// What `pki init` wrote.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The CA certificate.
    pub cert: PathBuf,
    /// The CA key.
    pub key: PathBuf,
    /// The metadata file.
    pub metadata: PathBuf,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

/// A loaded CA, ready to sign.
pub struct Ca {
    /// Its trust domain (from `pki.json`).
    pub trust_domain: String,
    /// Its certificate (DER).
    pub cert_der: Vec<u8>,
    /// End of its validity, Unix seconds.
    pub not_after: i64,
    /// The signer: the CA's subject and key.
    pub issuer: Issuer<'static, KeyPair>,
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    maestro_common::time::now_millis().div_euclid(1000)
}

/// Validity of a new certificate: from [`BACKDATE_SECS`] ago until `days` from now.
pub fn validity(days: u32) -> CliResult<(ASN1Time, ASN1Time)> {
    if days == 0 || days > MAX_VALID_DAYS {
        return Err(CliError::Invalid(format!(
            "--valid-days must be 1 to {MAX_VALID_DAYS}"
        )));
    }
    let now = now_secs();
    let at = |secs: i64| {
        ASN1Time::from_timestamp(secs)
            .map_err(|e| CliError::Invalid(format!("validity out of range: {e}")))
    };
    Ok((
        at(now - BACKDATE_SECS)?,
        at(now + i64::from(days) * 86_400)?,
    ))
}

/// A random positive 128-bit serial number.
pub fn random_serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    // Positive and without a leading zero byte, so the DER integer is exactly 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// The paths of the CA's files in `dir`.
pub fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join(CA_CERT), dir.join(CA_KEY), dir.join(METADATA))
}

/// Creates the CA in `dir` (created if missing); refuses to replace an existing one unless `force`.
pub fn init(
    dir: &Path,
    trust_domain: &str,
    valid_days: u32,
    force: bool,
) -> CliResult<InitOutcome> {
    validate_trust_domain(trust_domain)
        .map_err(|r| CliError::Invalid(format!("--trust-domain {trust_domain:?}: {r}")))?;
    let (not_before, not_after) = validity(valid_days)?;
    let (cert_path, key_path, meta_path) = paths(dir);
    files::refuse_existing(&[&cert_path, &key_path, &meta_path], force)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failed(format!("creating {}: {e}", dir.display())))?;

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CliError::Failed(format!("generating the CA key: {e}")))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_subject(trust_domain);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before.to_datetime();
    params.not_after = not_after.to_datetime();
    params.serial_number = Some(random_serial());
    let cert = params
        .self_signed(&key)
        .map_err(|e| CliError::Failed(format!("signing the CA certificate: {e}")))?;
    let metadata = PkiMetadata {
        trust_domain: trust_domain.to_string(),
    };
    let mut meta_json = serde_json::to_string_pretty(&metadata)
        .map_err(|e| CliError::Failed(format!("encoding {METADATA}: {e}")))?;
    meta_json.push('\n');
    // Key first, certificate last: a directory with a CA certificate always has its key.
    files::write_all(
        &[
            PlannedFile::new(key_path.clone(), key.serialize_pem(), KEY_MODE),
            PlannedFile::new(meta_path.clone(), meta_json, PUBLIC_MODE),
            PlannedFile::new(cert_path.clone(), cert.pem(), PUBLIC_MODE),
        ],
        force,
    )?;
    Ok(InitOutcome {
        cert: cert_path,
        key: key_path,
        metadata: meta_path,
        not_after: not_after.timestamp(),
    })
}

/// The subject of a CA of `trust_domain`.
fn ca_subject(trust_domain: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, trust_domain);
    dn
}

/// Loads the CA of `dir`: its metadata, certificate and key, checked to belong together.
pub fn load(dir: &Path) -> CliResult<Ca> {
    let (cert_path, key_path, meta_path) = paths(dir);
    let hint = |e: CliError| match e {
        CliError::NotFound(m) => CliError::NotFound(format!(
            "{m} (create a CA with `maestroctl pki init --dir {}`)",
            dir.display()
        )),
        other => other,
    };
    let meta_bytes = files::read(&meta_path).map_err(hint)?;
    let metadata: PkiMetadata = serde_json::from_slice(&meta_bytes)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", meta_path.display())))?;
    validate_trust_domain(&metadata.trust_domain)
        .map_err(|r| CliError::Invalid(format!("{}: trustDomain: {r}", meta_path.display())))?;
    let cert_der = super::inspect::certificate_der(&files::read(&cert_path).map_err(hint)?)
        .map_err(|r| CliError::Invalid(format!("{}: {r}", cert_path.display())))?;
    let key_pem = String::from_utf8(files::read(&key_path).map_err(hint)?)
        .map_err(|_| CliError::Invalid(format!("{}: not a PEM file", key_path.display())))?;
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", key_path.display())))?;

    let (_, cert) = X509Certificate::from_der(&cert_der)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", cert_path.display())))?;
    if !cert.is_ca() {
        return Err(CliError::Invalid(format!(
            "{}: not a CA certificate",
            cert_path.display()
        )));
    }
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(CliError::Invalid(format!(
            "{} is not the key of {}",
            key_path.display(),
            cert_path.display()
        )));
    }
    let mut distinguished_name = DistinguishedName::new();
    for attr in cert.subject().iter_attributes() {
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .map(|arcs| arcs.collect())
            .ok_or_else(|| {
                CliError::Invalid(format!("{}: unreadable subject", cert_path.display()))
            })?;
        let value = attr.as_str().map_err(|_| {
            CliError::Invalid(format!(
                "{}: subject attribute {} is not a string",
                cert_path.display(),
                attr.attr_type()
            ))
        })?;
        distinguished_name.push(DnType::from_oid(&oid), value);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let not_after = cert.validity().not_after.timestamp();
    Ok(Ca {
        trust_domain: metadata.trust_domain,
        cert_der,
        not_after,
        issuer: Issuer::new(params, key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_writes_a_ca_with_a_private_key_and_refuses_to_replace_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = init(dir.path(), "plant.example", 30, false).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out.key), 0o600);
        assert_eq!(mode(&out.cert), 0o644);
        let ca = load(dir.path()).unwrap();
        assert_eq!(ca.trust_domain, "plant.example");
        let (_, cert) = X509Certificate::from_der(&ca.cert_der).unwrap();
        assert!(cert.is_ca());
        assert_eq!(cert.subject(), cert.issuer());
        let days = (ca.not_after - now_secs()) / 86_400;
        assert!((29..=30).contains(&days), "{days}");

        let before = std::fs::read(&out.key).unwrap();
        let err = init(dir.path(), "plant.example", 30, false).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read(&out.key).unwrap(), before);
        init(dir.path(), "other.example", 30, true).unwrap();
        assert_ne!(std::fs::read(&out.key).unwrap(), before);
        assert_eq!(load(dir.path()).unwrap().trust_domain, "other.example");
    }

    #[test]
    fn bad_trust_domains_and_validity_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for td in ["", "Plant.Example", "a/b", "spiffe://x"] {
            let err = init(dir.path(), td, 30, false).unwrap_err();
            assert_eq!(err.exit_code(), 4, "{td:?}");
        }
        assert_eq!(init(dir.path(), "ok", 0, false).unwrap_err().exit_code(), 4);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_key_of_another_ca_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init(a.path(), "a.example", 30, false).unwrap();
        init(b.path(), "a.example", 30, false).unwrap();
        std::fs::copy(b.path().join(CA_KEY), a.path().join(CA_KEY)).unwrap();
        let err = load(a.path()).err().expect("mismatched key accepted");
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("is not the key of"), "{err}");
        let missing = tempfile::tempdir().unwrap();
        let err = load(missing.path()).err().expect("no CA accepted");
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("pki init"), "{err}");
    }
}
