//! Deny-by-default authorization. A call is allowed only when a rule below allows it for the
//! caller's authenticated [`PeerIdentity`] — never because of a field of the request — and every
//! refusal names the rule that refused it, for the log and for the caller.
//!
//! | call | allowed for |
//! |---|---|
//! | apply / delete intents at domain `d` | maestro |
//! | read intents at domain `d` (get, list, watch status, stream logs) | maestro |
//! | register / heartbeat domain `d` | domain `d` itself |
//! | push records to the log server of `d` | site `s` of `d`, only records of (`d`, `s`) |
//! | read records of the log server of `d` (subscribe, query) | domain `d` itself |
//! | operator calls at maestro | operators of the [`OperatorPolicy`], by role and scope |
//! | read maestro's audit log | operators whose grant is `admin` with no scope |
//! | read the audit log of domain `d` | maestro and domain `d` itself |
//!
//! Operator roles: `viewer` (get, list, watch, logs), `operator` (also create and cancel
//! orders), `admin` (everything). A grant may be scoped to regions or domains; a call that
//! targets domains is allowed only when every target is in scope.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::{PeerIdentity, Role};

/// What an operator call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    /// Get, list, watch, logs.
    Read,
    /// Create and cancel orders.
    Write,
    /// Everything else (registry changes, policy).
    Admin,
}

/// A domain a call targets, with its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The domain.
    pub domain: &'a str,
    /// Its region.
    pub region: &'a str,
}

/// A call to be authorized, with what it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call<'a> {
    /// ApplyIntent or DeleteIntent at the orchestrator of `domain`.
    WriteIntents {
        /// The orchestrator's domain.
        domain: &'a str,
    },
    /// Reading intents, their status or their logs at the orchestrator of `domain`.
    ReadIntents {
        /// The orchestrator's domain.
        domain: &'a str,
    },
    /// RegisterDomain or Heartbeat naming domain `domain`.
    RegisterDomain {
        /// The domain the request names.
        domain: &'a str,
    },
    /// Pushing one record, of (`domain`, `site`), to the log server of `server_domain`.
    PushRecord {
        /// The log server's domain.
        server_domain: &'a str,
        /// The record's domain.
        domain: &'a str,
        /// The record's site.
        site: &'a str,
    },
    /// Subscribing to or querying the log server of `server_domain`.
    ReadRecords {
        /// The log server's domain.
        server_domain: &'a str,
    },
    /// Announcing a pushed commit to the log server of `server_domain`.
    AnnounceCommit {
        /// The log server's domain.
        server_domain: &'a str,
    },
    /// Following the commits announced at the log server of `server_domain`.
    WatchCommits {
        /// The log server's domain.
        server_domain: &'a str,
    },
    /// Reading an audit log (list, export): maestro's (`domain: None`) or that of the
    /// orchestrator of `domain`. The log names every caller and target of the component, so
    /// no scoped grant covers it.
    ReadAudit {
        /// The orchestrator's domain; `None` for maestro's own log.
        domain: Option<&'a str>,
    },
    /// An operator call at maestro acting on `targets` (none for calls without a scope, such as
    /// listing the catalog).
    Operate {
        /// What it does.
        verb: Verb,
        /// The domains it acts on.
        targets: &'a [Target<'a>],
    },
}

/// Why a call was refused: the rule and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The rule's name, stable for logs and tests (e.g. `intents-from-maestro-only`).
    pub rule: &'static str,
    /// What did not match.
    pub reason: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused by rule {}: {}", self.rule, self.reason)
    }
}

impl std::error::Error for Denied {}

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperatorRole {
    /// Read only.
    Viewer,
    /// Read, create and cancel orders.
    Operator,
    /// Everything.
    Admin,
}

impl OperatorRole {
    fn allows(self, verb: Verb) -> bool {
        match self {
            Self::Viewer => verb == Verb::Read,
            Self::Operator => verb <= Verb::Write,
            Self::Admin => true,
        }
    }
}

/// What one operator may do, and where (empty `regions` and `domains`: everywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The role.
    pub role: OperatorRole,
    /// Regions in scope.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Domains in scope.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The organisation the operator orders for: carried to the domains with every intent,
    /// whose policies may restrict who orders and what they disclose (none: no organisation).
    #[serde(default)]
    pub organisation: Option<String>,
}

impl Grant {
    fn covers(&self, t: &Target<'_>) -> bool {
        (self.regions.is_empty() && self.domains.is_empty())
            || self.domains.iter().any(|d| d == t.domain)
            || self.regions.iter().any(|r| r == t.region)
    }
}

/// The operators and their grants (a policy file: `operators: {alice: {role: admin}, bob:
/// {role: operator, domains: [north]}}`). An operator not listed may do nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorPolicy {
    /// Grants by operator name.
    #[serde(default)]
    pub operators: BTreeMap<String, Grant>,
}

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

impl OperatorPolicy {
    /// Reads a policy file (YAML or JSON); errors name the file and the key.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::FieldError> {
        let shown = path.display().to_string();
        let fail = |reason: String| crate::FieldError::new(shown.clone(), reason);
        let size = std::fs::metadata(path)
            .map_err(|e| fail(e.to_string()))?
            .len();
        if size > MAX_POLICY_BYTES {
            return Err(fail(format!("larger than {MAX_POLICY_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let policy: Self = serde_yaml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        policy.validate().map_err(|e| e.within(&shown))?;
        Ok(policy)
    }

    /// Checks every name in the policy.
    pub fn validate(&self) -> Result<(), crate::FieldError> {
        for (name, grant) in &self.operators {
            let at = format!("operators.{name}");
            crate::ResourceName::parse(&at, name)?;
            for (i, d) in grant.domains.iter().enumerate() {
                crate::ResourceName::parse(&format!("{at}.domains[{i}]"), d)?;
            }
            if let Some(o) = &grant.organisation {
                crate::ResourceName::parse(&format!("{at}.organisation"), o)?;
            }
            for (i, r) in grant.regions.iter().enumerate() {
                if r.is_empty() || r.len() > 253 || r.chars().any(char::is_control) {
                    return Err(crate::FieldError::new(
                        format!("{at}.regions[{i}]"),
                        "must be 1 to 253 printable characters",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl OperatorPolicy {
    /// The organisation of `peer`: an operator's from its grant; none for anyone else.
    pub fn organisation_of(&self, peer: &PeerIdentity) -> Option<&str> {
        match &peer.role {
            Role::Operator { name } => self
                .operators
                .get(name.as_str())
                .and_then(|g| g.organisation.as_deref()),
            _ => None,
        }
    }
}

fn deny(rule: &'static str, reason: impl Into<String>) -> Result<(), Denied> {
    Err(Denied {
        rule,
        reason: reason.into(),
    })
}

/// Decides `call` for `peer`, which must belong to `trust_domain`.
pub fn authorize(
    peer: &PeerIdentity,
    trust_domain: &str,
    call: &Call<'_>,
    policy: &OperatorPolicy,
) -> Result<(), Denied> {
    if peer.trust_domain != trust_domain {
        return deny(
            "same-trust-domain",
            format!("{peer} is not of trust domain {trust_domain}"),
        );
    }
    match (call, &peer.role) {
        (Call::WriteIntents { .. }, Role::Maestro) => Ok(()),
        (Call::WriteIntents { domain }, _) => deny(
            "intents-from-maestro-only",
            format!("{peer} may not change intents of domain {domain}"),
        ),
        (Call::ReadIntents { .. }, Role::Maestro) => Ok(()),
        (Call::ReadIntents { domain }, _) => deny(
            "intents-read-by-maestro-only",
            format!("{peer} may not read intents of domain {domain}"),
        ),
        (Call::RegisterDomain { domain }, Role::Domain { domain: me })
            if me.as_str() == *domain =>
        {
            Ok(())
        }
        (Call::RegisterDomain { domain }, _) => deny(
            "domain-registers-as-itself",
            format!("{peer} may not register or heartbeat as domain {domain}"),
        ),
        (
            Call::PushRecord {
                server_domain,
                domain,
                site,
            },
            Role::Site { domain: d, site: s },
        ) => {
            if d.as_str() != *server_domain {
                deny(
                    "site-pushes-to-own-domain",
                    format!("{peer} may not push to the log server of domain {server_domain}"),
                )
            } else if d.as_str() != *domain || s.as_str() != *site {
                deny(
                    "site-pushes-own-records",
                    format!("{peer} may not push records of site {site} in domain {domain}"),
                )
            } else {
                Ok(())
            }
        }
        (Call::PushRecord { server_domain, .. }, _) => deny(
            "records-from-sites-only",
            format!("{peer} may not push records to the log server of {server_domain}"),
        ),
        (Call::ReadRecords { server_domain }, Role::Domain { domain: me })
            if me.as_str() == *server_domain =>
        {
            Ok(())
        }
        (Call::ReadRecords { server_domain }, _) => deny(
            "records-read-by-own-domain",
            format!("{peer} may not read the records of domain {server_domain}"),
        ),
        (Call::AnnounceCommit { server_domain }, Role::Domain { domain: me })
            if me.as_str() == *server_domain =>
        {
            Ok(())
        }
        (Call::AnnounceCommit { server_domain }, _) => deny(
            "commits-announced-by-own-domain",
            format!("{peer} may not announce commits at the log server of domain {server_domain}"),
        ),
        (Call::WatchCommits { server_domain }, Role::Site { domain: d, .. })
            if d.as_str() == *server_domain =>
        {
            Ok(())
        }
        (Call::WatchCommits { server_domain }, _) => deny(
            "commits-watched-by-own-sites",
            format!("{peer} may not follow the commits of domain {server_domain}"),
        ),
        (Call::ReadAudit { domain: Some(_) }, Role::Maestro) => Ok(()),
        (Call::ReadAudit { domain: Some(d) }, Role::Domain { domain: me }) if me.as_str() == *d => {
            Ok(())
        }
        (Call::ReadAudit { domain: Some(d) }, _) => deny(
            "audit-read-by-maestro-or-own-domain",
            format!("{peer} may not read the audit log of domain {d}"),
        ),
        (Call::ReadAudit { domain: None }, Role::Operator { name }) => {
            let Some(grant) = policy.operators.get(name.as_str()) else {
                return deny(
                    "operator-listed",
                    format!("operator {name} is not in the operator policy"),
                );
            };
            if grant.role != OperatorRole::Admin {
                deny(
                    "audit-read-by-admins",
                    format!(
                        "operator {name} is a {:?}; reading the audit log needs admin",
                        grant.role
                    ),
                )
            } else if !(grant.regions.is_empty() && grant.domains.is_empty()) {
                deny(
                    "audit-read-by-admins",
                    format!(
                        "operator {name} is an admin of some domains or regions only; the audit log covers all of them"
                    ),
                )
            } else {
                Ok(())
            }
        }
        (Call::ReadAudit { domain: None }, _) => deny(
            "audit-read-by-admins",
            format!("{peer} is not an operator and may not read maestro's audit log"),
        ),
        (Call::Operate { verb, targets }, Role::Operator { name }) => {
            let Some(grant) = policy.operators.get(name.as_str()) else {
                return deny(
                    "operator-listed",
                    format!("operator {name} is not in the operator policy"),
                );
            };
            if !grant.role.allows(*verb) {
                return deny(
                    "operator-role",
                    format!(
                        "operator {name} is a {:?}; {verb:?} calls need more",
                        grant.role
                    ),
                );
            }
            match targets.iter().find(|t| !grant.covers(t)) {
                Some(t) => deny(
                    "operator-scope",
                    format!(
                        "operator {name} may not act on domain {} (region {})",
                        t.domain, t.region
                    ),
                ),
                None => Ok(()),
            }
        }
        (Call::Operate { .. }, _) => deny(
            "operator-calls-by-operators",
            format!("{peer} is not an operator"),
        ),
    }
}

#[cfg(test)]
mod tests;
