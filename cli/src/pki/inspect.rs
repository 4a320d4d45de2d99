//! `pki inspect`: what a certificate says — its identity first — as a view for `-o`.
//!
//! A leaf certificate must name exactly one identity (a `spiffe://` URI SAN), as peers will require;
//! a CA certificate may name none.

use crate::error::{CliError, CliResult};
use maestro_common::identity::{PeerIdentity, Role};
use maestro_common::time::rfc3339;
use serde::Serialize;
use std::path::Path;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate as `pki inspect` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    /// The identity it names (none for a CA without one).
    pub identity: Option<IdentityView>,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days until `notAfter` (negative once expired).
    pub days_left: i64,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// Every subject alternative name.
    pub sans: SansView,
    /// Extended key usages (serverAuth, clientAuth).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extended_key_usage: Vec<String>,
}

/// The identity of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    /// `spiffe://...`.
    pub uri: String,
    /// Trust domain.
    pub trust_domain: String,
    /// maestro | domain | site | operator.
    pub role: String,
    /// The domain (domain and site roles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The site (site role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The operator's name (operator role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Subject alternative names by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SansView {
    /// URIs.
    pub uris: Vec<String>,
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<String>,
}

impl From<&PeerIdentity> for IdentityView {
    fn from(id: &PeerIdentity) -> Self {
        let (role, domain, site, name) = match &id.role {
            Role::Maestro => ("maestro", None, None, None),
            Role::Domain { domain } => ("domain", Some(domain.to_string()), None, None),
            Role::Site { domain, site } => (
                "site",
                Some(domain.to_string()),
                Some(site.to_string()),
                None,
            ),
            Role::Operator { name } => ("operator", None, None, Some(name.to_string())),
        };
        IdentityView {
            uri: id.to_uri(),
            trust_domain: id.trust_domain.clone(),
            role: role.into(),
            domain,
            site,
            name,
        }
    }
}

/// The DER of a certificate file: its first `CERTIFICATE` PEM block, or the bytes when they are DER.
pub fn certificate_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| format!("not a PEM file: {e}"))?;
            if pem.label == "CERTIFICATE" {
                return Ok(pem.contents);
            }
        }
        return Err("no CERTIFICATE block in the PEM file".into());
    }
    X509Certificate::from_der(bytes)
        .map(|_| bytes.to_vec())
        .map_err(|_| "not a certificate (neither PEM nor DER)".into())
}

/// Reads and describes the certificate in `path`; refuses (exit 4) a file that is not a
/// certificate, or a leaf certificate that does not name exactly one identity.
pub fn inspect_file(path: &Path) -> CliResult<CertificateView> {
    let bytes = super::files::read(path)?;
    describe(&bytes, crate::pki::ca::now_secs())
        .map_err(|why| CliError::Invalid(format!("{}: {why}", path.display())))
}

/// Describes the certificate in `bytes` (PEM or DER) as of `now` (Unix seconds).
pub fn describe(bytes: &[u8], now: i64) -> Result<CertificateView, String> {
    let der = certificate_der(bytes)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| format!("not a certificate: {e}"))?;
    let is_ca = cert.is_ca();
    let identity = match PeerIdentity::from_certificate(&der) {
        Ok(id) => Some(IdentityView::from(&id)),
        Err(maestro_common::identity::IdentityError::Missing) if is_ca => None,
        Err(e) => return Err(e.to_string()),
    };
    let mut sans = SansView::default();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::URI(u) => sans.uris.push(u.to_string()),
                GeneralName::DNSName(d) => sans.dns.push(d.to_string()),
                GeneralName::IPAddress(ip) => sans.ips.push(ip_text(ip)),
                _ => {}
            }
        }
    }
    let mut extended_key_usage = Vec::new();
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if eku.value.server_auth {
            extended_key_usage.push("serverAuth".to_string());
        }
        if eku.value.client_auth {
            extended_key_usage.push("clientAuth".to_string());
        }
    }
    let validity = cert.validity();
    let not_after = validity.not_after.timestamp();
    Ok(CertificateView {
        identity,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: rfc3339(validity.not_before.timestamp() * 1000),
        not_after: rfc3339(not_after * 1000),
        days_left: (not_after - now).div_euclid(86_400),
        is_ca,
        sans,
        extended_key_usage,
    })
}

fn ip_text(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(raw).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(raw).unwrap_or_default()).to_string(),
        _ => format!("{raw:02x?}"),
    }
}

/// The view as `table` text (or JSON/YAML).
pub fn render(view: &CertificateView, output: crate::output::Output) -> String {
    use crate::output::Output;
    if output != Output::Table {
        return crate::output::structured(view, output);
    }
    let mut out = String::new();
    let mut field = |k: &str, v: &str| {
        if !v.is_empty() {
            out.push_str(&format!("{:<14}{v}\n", format!("{k}:")));
        }
    };
    match &view.identity {
        Some(id) => {
            field("Identity", &id.uri);
            let who = [id.domain.as_deref(), id.site.as_deref(), id.name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            field("Role", format!("{} {who}", id.role).trim_end());
        }
        None => field("Identity", "(none: a CA certificate)"),
    }
    field("Subject", &view.subject);
    field("Issuer", &view.issuer);
    field("Serial", &view.serial);
    field("Not before", &view.not_before);
    let left = if view.days_left < 0 {
        "expired".to_string()
    } else {
        format!("{} days left", view.days_left)
    };
    field("Not after", &format!("{} ({left})", view.not_after));
    field("CA", if view.is_ca { "yes" } else { "no" });
    field("URI SANs", &view.sans.uris.join(", "));
    field("DNS SANs", &view.sans.dns.join(", "));
    field("IP SANs", &view.sans.ips.join(", "));
    field("EKU", &view.extended_key_usage.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{ca, issue};
    use rcgen::{CertificateParams, KeyPair, SanType, string::Ia5String};

    fn self_signed_with_uris(uris: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        for u in uris {
            params
                .subject_alt_names
                .push(SanType::URI(Ia5String::try_from(u.to_string()).unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_leaf_shows_its_identity_names_and_days_left() {
        let dir = tempfile::tempdir().unwrap();
        ca::init(dir.path(), "plant.example", 365, false).unwrap();
        let mut req = issue::IssueRequest {
            role: issue::role("site", &["north", "mine-7"]).unwrap(),
            dns: vec!["agent.local".into()],
            ips: Vec::new(),
            valid_days: 10,
            out: None,
            force: false,
        };
        let out = issue::issue(dir.path(), &req).unwrap();
        let bytes = std::fs::read(&out.cert).unwrap();
        let view = describe(&bytes, ca::now_secs()).unwrap();
        let id = view.identity.clone().unwrap();
        assert_eq!(id.uri, "spiffe://plant.example/domain/north/site/mine-7");
        assert_eq!(id.role, "site");
        assert_eq!(id.domain.as_deref(), Some("north"));
        assert_eq!(id.site.as_deref(), Some("mine-7"));
        assert!((9..=10).contains(&view.days_left), "{}", view.days_left);
        assert!(!view.is_ca);
        assert_eq!(view.sans.dns, ["agent.local"]);
        assert!(view.issuer.contains("Maestro CA"), "{}", view.issuer);
        assert_eq!(view.extended_key_usage, ["serverAuth", "clientAuth"]);
        // Eleven days later it is expired.
        let later = describe(&bytes, ca::now_secs() + 11 * 86_400).unwrap();
        assert!(later.days_left < 0);
        assert!(render(&later, crate::output::Output::Table).contains("(expired)"));
        // DER works as PEM does.
        let der = certificate_der(&bytes).unwrap();
        assert_eq!(describe(&der, ca::now_secs()).unwrap().identity, Some(id));

        req.role = issue::role("operator", &["ada"]).unwrap();
        req.dns.clear();
        let out = issue::issue(dir.path(), &req).unwrap();
        let view = describe(&std::fs::read(&out.cert).unwrap(), ca::now_secs()).unwrap();
        assert_eq!(view.extended_key_usage, ["clientAuth"]);
        let table = render(&view, crate::output::Output::Table);
        assert!(table.contains("Role:         operator ada"), "{table}");
    }

    #[test]
    fn a_ca_has_no_identity() {
        let dir = tempfile::tempdir().unwrap();
        let out = ca::init(dir.path(), "plant.example", 365, false).unwrap();
        let view = describe(&std::fs::read(&out.cert).unwrap(), ca::now_secs()).unwrap();
        assert!(view.is_ca);
        assert_eq!(view.identity, None);
        assert_eq!(view.subject, view.issuer);
    }

    #[test]
    fn no_one_or_two_identities_or_no_certificate_is_refused() {
        let now = ca::now_secs();
        let err = describe(&self_signed_with_uris(&[]), now).unwrap_err();
        assert!(err.contains("no spiffe://"), "{err}");
        let two = self_signed_with_uris(&["spiffe://a/maestro", "spiffe://a/domain/d"]);
        let err = describe(&two, now).unwrap_err();
        assert!(err.contains("2 spiffe://"), "{err}");
        let bad = self_signed_with_uris(&["spiffe://a/admin"]);
        assert!(describe(&bad, now).is_err());
        let one = self_signed_with_uris(&["https://x", "spiffe://a/operator/ada"]);
        assert_eq!(
            describe(&one, now).unwrap().identity.unwrap().uri,
            "spiffe://a/operator/ada"
        );
        assert!(describe(b"hello", now).is_err());
        let key = KeyPair::generate().unwrap().serialize_pem();
        let err = describe(key.as_bytes(), now).unwrap_err();
        assert!(err.contains("no CERTIFICATE"), "{err}");
    }
}
