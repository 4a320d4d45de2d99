//! `pki issue`: a leaf certificate signed by the CA of a PKI directory, naming exactly one
//! identity as a `spiffe://` URI SAN (built by [`PeerIdentity`], never formatted here), plus DNS and
//! IP names for servers.
//!
//! Components (maestro, domains, sites) get `serverAuth` and `clientAuth`; operators `clientAuth`
//! only. Servers (maestro and domains: orchestrator and log server) get `localhost` and `127.0.0.1`
//! when no `--dns`/`--ip` is given; sites only connect out, so they get names only when asked.

use super::ca::{self, Ca};
use super::files::{self, KEY_MODE, PUBLIC_MODE, PlannedFile};
use crate::error::{CliError, CliResult};
use maestro_common::ResourceName;
use maestro_common::identity::{PeerIdentity, Role};
use rcgen::string::Ia5String;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Longest common name X.509 allows (ub-common-name).
const MAX_COMMON_NAME: usize = 64;

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// Who the certificate is for.
    pub role: Role,
    /// DNS names (servers).
    pub dns: Vec<String>,
    /// IP addresses (servers).
    pub ips: Vec<IpAddr>,
    /// Days of validity.
    pub valid_days: u32,
    /// Path prefix of the files (default: `<dir>/<name>`).
    pub out: Option<PathBuf>,
    /// Replace existing files.
    pub force: bool,
}

/// What `pki issue` wrote.
#[derive(Debug, Clone)]
pub struct IssueOutcome {
    /// The identity in the certificate.
    pub identity: PeerIdentity,
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

/// The role named on the command line: `maestro`, `domain D`, `site D S` or `operator NAME`, each
/// name validated.
pub fn role(kind: &str, names: &[&str]) -> CliResult<Role> {
    let name = |field: &str, v: &str| {
        ResourceName::parse(field, v).map_err(|e| CliError::Invalid(e.to_string()))
    };
    match (kind, names) {
        ("maestro", []) => Ok(Role::Maestro),
        ("domain", [d]) => Ok(Role::Domain {
            domain: name("domain", d)?,
        }),
        ("site", [d, s]) => Ok(Role::Site {
            domain: name("domain", d)?,
            site: name("site", s)?,
        }),
        ("operator", [n]) => Ok(Role::Operator {
            name: name("operator", n)?,
        }),
        _ => Err(CliError::Invalid(
            "identity must be maestro, domain D, site D S or operator NAME".into(),
        )),
    }
}

/// The file name stem of a role's certificate: `maestro`, `domain-D`, `site-D-S`, `operator-N`
/// (safe as a path component: every name in a role is a validated [`ResourceName`]).
pub fn file_stem(role: &Role) -> String {
    match role {
        Role::Maestro => "maestro".into(),
        Role::Domain { domain } => format!("domain-{domain}"),
        Role::Site { domain, site } => format!("site-{domain}-{site}"),
        Role::Operator { name } => format!("operator-{name}"),
    }
}

/// Whether the role accepts connections (and so needs DNS/IP names by default).
pub fn is_server(role: &Role) -> bool {
    matches!(role, Role::Maestro | Role::Domain { .. })
}

/// Checks a DNS name for a SAN: labels of letters, digits and `-` (a leading `*.` allowed).
fn dns_name(name: &str) -> CliResult<Ia5String> {
    let bad = |why: &str| CliError::Invalid(format!("--dns {name:?}: {why}"));
    let labels = name.strip_prefix("*.").unwrap_or(name);
    if labels.is_empty() || name.len() > 253 {
        return Err(bad("must have 1 to 253 characters"));
    }
    for label in labels.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("every label must have 1 to 63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(bad(
                "labels are letters, digits and '-', not starting or ending with '-'",
            ));
        }
    }
    Ia5String::try_from(name.to_ascii_lowercase()).map_err(|e| bad(&e.to_string()))
}

/// The certificate parameters of `identity` (without validity and serial).
fn leaf_params(identity: &PeerIdentity, req: &IssueRequest) -> CliResult<CertificateParams> {
    let server = is_server(&identity.role);
    let operator = matches!(identity.role, Role::Operator { .. });
    if operator && (!req.dns.is_empty() || !req.ips.is_empty()) {
        return Err(CliError::Invalid(
            "operator certificates are for clients and carry no --dns or --ip".into(),
        ));
    }
    let (dns, ips) = if server && req.dns.is_empty() && req.ips.is_empty() {
        (
            vec!["localhost".to_string()],
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )
    } else {
        (req.dns.clone(), req.ips.clone())
    };
    let uri = Ia5String::try_from(identity.to_uri())
        .map_err(|e| CliError::Invalid(format!("identity {identity}: {e}")))?;
    let mut sans = vec![SanType::URI(uri)];
    for name in &dns {
        let name = SanType::DnsName(dns_name(name)?);
        if !sans.contains(&name) {
            sans.push(name);
        }
    }
    for ip in ips {
        if !sans.contains(&SanType::IpAddress(ip)) {
            sans.push(SanType::IpAddress(ip));
        }
    }
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    let mut dn = DistinguishedName::new();
    let cn: String = file_stem(&identity.role)
        .chars()
        .take(MAX_COMMON_NAME)
        .collect();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, identity.trust_domain.clone());
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = if operator {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    };
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Issues a certificate for `req.role` with the CA in `dir` and writes `<prefix>.pem` and
/// `<prefix>-key.pem` (0600); refuses to replace existing files unless `req.force`.
pub fn issue(dir: &Path, req: &IssueRequest) -> CliResult<IssueOutcome> {
    let ca = ca::load(dir)?;
    let identity = PeerIdentity::new(&ca.trust_domain, req.role.clone())
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let prefix = req
        .out
        .clone()
        .unwrap_or_else(|| dir.join(file_stem(&identity.role)));
    let cert_path = with_suffix(&prefix, ".pem")?;
    let key_path = with_suffix(&prefix, "-key.pem")?;
    files::refuse_existing(&[&cert_path, &key_path], req.force)?;

    let mut params = leaf_params(&identity, req)?;
    let (not_before, not_after) = ca::validity(req.valid_days)?;
    if not_after.timestamp() > ca.not_after {
        let left = (ca.not_after - ca::now_secs()).div_euclid(86_400);
        return Err(CliError::Invalid(format!(
            "--valid-days {} would outlive the CA, which expires in {left} days",
            req.valid_days
        )));
    }
    params.not_before = not_before.to_datetime();
    params.not_after = not_after.to_datetime();
    params.serial_number = Some(ca::random_serial());
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CliError::Failed(format!("generating a key: {e}")))?;
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(|e| CliError::Failed(format!("signing the certificate: {e}")))?;
    check_issued(&ca, cert.der(), &identity)?;

    if let Some(parent) = cert_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::Failed(format!("creating {}: {e}", parent.display())))?;
    }
    files::write_all(
        &[
            PlannedFile::new(key_path.clone(), key.serialize_pem(), KEY_MODE),
            PlannedFile::new(cert_path.clone(), cert.pem(), PUBLIC_MODE),
        ],
        req.force,
    )?;
    Ok(IssueOutcome {
        identity,
        cert: cert_path,
        key: key_path,
        not_after: not_after.timestamp(),
    })
}

/// The issued certificate names `identity` and names the CA as its issuer.
fn check_issued(ca: &Ca, der: &[u8], identity: &PeerIdentity) -> CliResult<()> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let read = PeerIdentity::from_certificate(der)
        .map_err(|e| CliError::Failed(format!("issued certificate: {e}")))?;
    if &read != identity {
        return Err(CliError::Failed(format!(
            "issued certificate names {read}, not {identity}"
        )));
    }
    let parse = |d| X509Certificate::from_der(d).map(|(_, c)| c);
    let (leaf, ca_cert) = parse(der)
        .and_then(|l| parse(&ca.cert_der).map(|c| (l, c)))
        .map_err(|e| CliError::Failed(format!("issued certificate: {e}")))?;
    if leaf.issuer().as_raw() != ca_cert.subject().as_raw() {
        return Err(CliError::Failed(
            "issued certificate's issuer is not the CA's subject".into(),
        ));
    }
    Ok(())
}

/// `prefix` with `suffix` appended to its file name.
fn with_suffix(prefix: &Path, suffix: &str) -> CliResult<PathBuf> {
    let name = prefix
        .file_name()
        .ok_or_else(|| CliError::Invalid(format!("--out {}: names no file", prefix.display())))?;
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(prefix.with_file_name(name))
}

#[cfg(test)]
mod tests;
