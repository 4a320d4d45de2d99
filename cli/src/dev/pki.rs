//! The dev federation's certificates: a CA under `<data>/pki` (kept across runs on the same data
//! dir), one certificate per component identity (re-issued at each start), an operator `dev`
//! with the admin role, and a `maestroctl` settings file that points at the federation with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSettings;

use super::federation::DevError;
use crate::pki::{self, IssueRequest};

/// Trust domain of the dev CA.
pub const TRUST_DOMAIN: &str = "maestro.dev";

/// The operator the dev federation admits (as admin).
pub const OPERATOR: &str = "dev";

/// Days of validity of the dev CA and its certificates.
const CA_DAYS: u32 = 3650;
const LEAF_DAYS: u32 = 365;

/// The TLS settings of every component of a dev federation.
#[derive(Debug, Clone)]
pub struct DevTls {
    /// The CA directory.
    pub dir: PathBuf,
    /// maestro's.
    pub maestro: TlsSettings,
    /// Each domain's (its orchestrator and its log server), by domain.
    pub domains: BTreeMap<String, TlsSettings>,
    /// Each site's, by site.
    pub sites: BTreeMap<String, TlsSettings>,
    /// The `dev` operator's, for maestroctl.
    pub operator: TlsSettings,
    /// The operator policy file maestro reads.
    pub policy: PathBuf,
}

fn failed(what: &str, e: impl std::fmt::Display) -> DevError {
    DevError::Start {
        component: "pki".into(),
        reason: format!("{what}: {e}"),
    }
}

fn name(field: &str, v: &str) -> Result<ResourceName, DevError> {
    ResourceName::parse(field, v).map_err(|e| failed(field, e))
}

/// Creates (or reuses) the CA in `<data>/pki` and issues the certificates of `domains` and their
/// `sites` (domain, site), maestro and the `dev` operator.
pub fn prepare(
    data_dir: &Path,
    domains: &[String],
    sites: &[(String, String)],
) -> Result<DevTls, DevError> {
    let dir = data_dir.join("pki");
    if !pki::ca::paths(&dir).0.exists() {
        pki::init(&dir, TRUST_DOMAIN, CA_DAYS, false).map_err(|e| failed("creating the CA", e))?;
    }
    let ca = dir.join(pki::ca::CA_CERT);
    let issue = |role: Role| -> Result<TlsSettings, DevError> {
        let req = IssueRequest {
            role,
            dns: Vec::new(),
            ips: Vec::new(),
            valid_days: LEAF_DAYS,
            out: None,
            force: true,
        };
        let out = pki::issue(&dir, &req).map_err(|e| failed("issuing", e))?;
        Ok(TlsSettings::files(&ca, out.cert, out.key))
    };
    let mut tls = DevTls {
        maestro: issue(Role::Maestro)?,
        domains: BTreeMap::new(),
        sites: BTreeMap::new(),
        operator: issue(Role::Operator {
            name: name("operator", OPERATOR)?,
        })?,
        policy: dir.join("operators.yaml"),
        dir: dir.clone(),
    };
    for d in domains {
        let role = Role::Domain {
            domain: name("domain", d)?,
        };
        tls.domains.insert(d.clone(), issue(role)?);
    }
    for (d, s) in sites {
        let role = Role::Site {
            domain: name("domain", d)?,
            site: name("site", s)?,
        };
        tls.sites.insert(s.clone(), issue(role)?);
    }
    let policy = format!("operators:\n  {OPERATOR}: {{role: admin}}\n");
    std::fs::write(&tls.policy, policy).map_err(|e| failed("writing the operator policy", e))?;
    Ok(tls)
}

/// Writes `<data>/maestroctl.yaml`: maestro's endpoint and the `dev` operator's certificate.
pub fn write_cli_settings(
    data_dir: &Path,
    maestro_url: &str,
    operator: Option<&TlsSettings>,
) -> Result<PathBuf, DevError> {
    let path = data_dir.join("maestroctl.yaml");
    let shown = |p: &Option<PathBuf>| {
        p.as_deref()
            .map(|p| serde_json::to_string(&p.display().to_string()).unwrap_or_default())
            .unwrap_or_default()
    };
    let mut text = format!(
        "# maestroctl settings for the dev federation (export MAESTROCTL_CONFIG={})\n\
         maestro: {maestro_url}\n",
        path.display()
    );
    if let Some(operator) = operator {
        text.push_str(&format!(
            "tls:\n  ca: {}\n  cert: {}\n  key: {}\n",
            shown(&operator.ca),
            shown(&operator.cert),
            shown(&operator.key),
        ));
    }
    std::fs::write(&path, text).map_err(|e| failed("writing maestroctl settings", e))?;
    Ok(path)
}

/// A domain's signing key in a dev federation.
#[derive(Debug, Clone)]
pub struct DevSigningKey {
    /// The private key file (PKCS#8), for the domain's `signing.keys`.
    pub private: PathBuf,
    /// The public key (hex), for its sites' `signing.keys`.
    pub public: String,
}

/// The signing key of `domain`, `<data>/keys/<domain>.pk8` (created on first use, kept across
/// runs on the same data dir, like the CA; made with and without `--insecure`, which is about
/// TLS only).
pub fn signing_key(data_dir: &Path, domain: &str) -> Result<DevSigningKey, DevError> {
    let dir = data_dir.join("keys");
    let private = dir.join(format!("{domain}.pk8"));
    if !private.exists() {
        crate::keys::generate(&dir, domain, true).map_err(|e| failed("signing key", e))?;
    }
    let public = crate::keys::public_key(&private).map_err(|e| failed("signing key", e))?;
    Ok(DevSigningKey {
        private,
        public: public.to_string(),
    })
}
