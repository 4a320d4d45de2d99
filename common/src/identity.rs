//! Who is at the other end of a connection: a typed identity, read once at the edge from the URI
//! SAN of the peer's certificate, in a SPIFFE-shaped scheme:
//!
//! ```text
//! spiffe://<trust-domain>/maestro
//! spiffe://<trust-domain>/domain/<domain>
//! spiffe://<trust-domain>/domain/<domain>/site/<site>
//! spiffe://<trust-domain>/operator/<name>
//! ```
//!
//! Invariants: every name in an identity is a validated [`ResourceName`]; a certificate names
//! exactly one SPIFFE identity (none, two or a malformed one is refused, never guessed); an
//! identity and its URI convert both ways without loss.

use std::fmt;

use crate::ResourceName;

/// The URI scheme of identities.
pub const SCHEME: &str = "spiffe://";
/// Longest accepted trust domain (SPIFFE's limit).
const MAX_TRUST_DOMAIN: usize = 255;

/// Why a URI or a certificate does not name an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The URI is not a Maestro identity; the text says which part is wrong.
    #[error("identity {uri:?}: {reason}")]
    Malformed {
        /// The URI as given (control characters escaped by `Debug`).
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The certificate could not be read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The certificate names no SPIFFE identity.
    #[error("certificate names no spiffe:// URI SAN")]
    Missing,
    /// The certificate names more than one SPIFFE identity.
    #[error("certificate names {0} spiffe:// URI SANs; exactly one is allowed")]
    Ambiguous(usize),
}

/// A component or person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The central coordinator.
    Maestro,
    /// A domain's orchestrator (and its log server, which serves the same domain).
    Domain {
        /// The domain.
        domain: ResourceName,
    },
    /// A site agent of a domain.
    Site {
        /// Its domain.
        domain: ResourceName,
        /// The site.
        site: ResourceName,
    },
    /// A person using `maestroctl`.
    Operator {
        /// The operator's name (roles come from the operator policy).
        name: ResourceName,
    },
}

/// A peer: its trust domain and who it is there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerIdentity {
    /// The trust domain, e.g. `maestro.example`.
    pub trust_domain: String,
    /// Who.
    pub role: Role,
}

fn malformed(uri: &str, reason: impl Into<String>) -> IdentityError {
    IdentityError::Malformed {
        uri: uri.to_string(),
        reason: reason.into(),
    }
}

/// Checks a trust domain: 1..=255 characters of lowercase letters, digits, `.`, `-` and `_`.
pub fn validate_trust_domain(td: &str) -> Result<(), String> {
    if td.is_empty() || td.len() > MAX_TRUST_DOMAIN {
        return Err(format!(
            "trust domain must have 1 to {MAX_TRUST_DOMAIN} characters"
        ));
    }
    if let Some(c) = td
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!("trust domain must not contain {c:?}"));
    }
    Ok(())
}

impl PeerIdentity {
    /// An identity of `role` in `trust_domain` (validated).
    pub fn new(trust_domain: &str, role: Role) -> Result<Self, IdentityError> {
        validate_trust_domain(trust_domain).map_err(|r| malformed(trust_domain, r))?;
        Ok(Self {
            trust_domain: trust_domain.to_string(),
            role,
        })
    }

    /// Parses `spiffe://<trust-domain>/<path>`.
    pub fn parse(uri: &str) -> Result<Self, IdentityError> {
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| malformed(uri, "must start with spiffe://"))?;
        let (td, path) = rest
            .split_once('/')
            .ok_or_else(|| malformed(uri, "has no path after the trust domain"))?;
        validate_trust_domain(td).map_err(|r| malformed(uri, r))?;
        if path.contains(['?', '#']) {
            return Err(malformed(uri, "must not have a query or fragment"));
        }
        let parts: Vec<&str> = path.split('/').collect();
        let name = |field: &str, v: &str| {
            ResourceName::parse(field, v).map_err(|e| malformed(uri, e.to_string()))
        };
        let role = match parts.as_slice() {
            ["maestro"] => Role::Maestro,
            ["domain", d] => Role::Domain {
                domain: name("domain", d)?,
            },
            ["domain", d, "site", s] => Role::Site {
                domain: name("domain", d)?,
                site: name("site", s)?,
            },
            ["operator", n] => Role::Operator {
                name: name("operator", n)?,
            },
            _ => {
                return Err(malformed(
                    uri,
                    "path must be maestro, domain/<d>, domain/<d>/site/<s> or operator/<name>",
                ));
            }
        };
        Ok(Self {
            trust_domain: td.to_string(),
            role,
        })
    }

    /// The identity's URI.
    pub fn to_uri(&self) -> String {
        let path = match &self.role {
            Role::Maestro => "maestro".to_string(),
            Role::Domain { domain } => format!("domain/{domain}"),
            Role::Site { domain, site } => format!("domain/{domain}/site/{site}"),
            Role::Operator { name } => format!("operator/{name}"),
        };
        format!("{SCHEME}{}/{path}", self.trust_domain)
    }

    /// The identity a DER certificate names: its one `spiffe://` URI SAN.
    pub fn from_certificate(der: &[u8]) -> Result<Self, IdentityError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        let uris: Vec<&str> = san
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::URI(u) if u.starts_with(SCHEME) => Some(*u),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        match uris.as_slice() {
            [] => Err(IdentityError::Missing),
            [one] => Self::parse(one),
            many => Err(IdentityError::Ambiguous(many.len())),
        }
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

#[cfg(test)]
mod tests;

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Maestro => f.write_str("maestro"),
            Role::Domain { domain } => write!(f, "domain {domain}"),
            Role::Site { domain, site } => write!(f, "site {site} of domain {domain}"),
            Role::Operator { name } => write!(f, "operator {name}"),
        }
    }
}
