//! What leaves the domain (policy key `disclosure`): per organisation that ordered a service,
//! whether maestro gets its per-site detail or aggregates only, and its logs or none. The
//! domain applies it to everything it sends up — statuses and log streams — and says in each
//! status what it withheld, so maestro and the CLI can show that something is missing and why.
//!
//! Invariant: with site detail withheld, no status the domain sends names a site: per-site
//! entries are dropped, reasons that name or come from one site are dropped, and the text is
//! rebuilt from what is left; ready/total counts stay.

use maestro_common::status::{StatusReason, reasons_from_proto, reasons_text};
use maestro_common::{FieldError, ResourceName};
use maestro_proto::intent::v1 as pb;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `withheld` value: per-site detail was left out.
pub const SITE_DETAIL: &str = "site_detail";
/// `withheld` value: logs are not streamed.
pub const LOGS: &str = "logs";

/// What one organisation is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Share {
    /// Per-site status (false: aggregates only).
    pub site_detail: bool,
    /// Log records of its services.
    pub logs: bool,
}

impl Default for Share {
    fn default() -> Self {
        Self {
            site_detail: true,
            logs: true,
        }
    }
}

impl Share {
    /// The `withheld` list of a status under this share.
    pub fn withheld(self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.site_detail {
            out.push(SITE_DETAIL.to_string());
        }
        if !self.logs {
            out.push(LOGS.to_string());
        }
        out
    }
}

/// The domain's disclosure rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Disclosure {
    /// What organisations not listed are shown (and services ordered without one).
    pub default: Share,
    /// Per organisation.
    pub organisations: BTreeMap<String, Share>,
}

impl Disclosure {
    /// Checks the organisation names, naming the key under `field`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        for name in self.organisations.keys() {
            ResourceName::parse(&format!("{field}.organisations"), name)?;
        }
        Ok(())
    }

    /// What services ordered by `organisation` (empty: none) disclose.
    pub fn share(&self, organisation: &str) -> Share {
        self.organisations
            .get(organisation)
            .copied()
            .unwrap_or(self.default)
    }

    /// Whether every organisation sees everything (nothing to do on the way out).
    pub fn is_open(&self) -> bool {
        self.default == Share::default()
            && self.organisations.values().all(|s| *s == Share::default())
    }
}

/// `status` as `share` lets it leave the domain.
pub fn redact(mut status: pb::IntentStatus, share: Share) -> pb::IntentStatus {
    status.withheld = share.withheld();
    if share.site_detail {
        return status;
    }
    status.sites.clear();
    // The domain's own reasons always convert; if one ever did not, none leaves (nothing leaks).
    let kept: Vec<StatusReason> =
        reasons_from_proto("reasons", std::mem::take(&mut status.reasons))
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !names_a_site(r))
            .collect();
    status.message = reasons_text(&kept);
    status.reasons = maestro_common::status::reasons_to_proto(&kept);
    status
}

/// Applies the rules to what leaves the domain, looking up who ordered each intent (cached per
/// generation). Cheap to share.
pub struct Outgoing {
    rules: Disclosure,
    store: std::sync::Arc<dyn crate::store::IntentStore>,
    /// Intent id -> (generation, organisation) last looked up.
    orderers: std::sync::Mutex<std::collections::HashMap<String, (u64, String)>>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("rules", &self.rules)
            .finish()
    }
}

impl Outgoing {
    /// The rules over the intents of `store`.
    pub fn new(rules: Disclosure, store: std::sync::Arc<dyn crate::store::IntentStore>) -> Self {
        Self {
            rules,
            store,
            orderers: std::sync::Mutex::default(),
        }
    }

    /// What intent `id` at `generation` (0: the stored one) may disclose. An intent that cannot
    /// be read discloses what the strictest rule allows, so an error never leaks anything.
    pub fn share(&self, id: &str, generation: u64) -> Share {
        if self.rules.is_open() {
            return Share::default();
        }
        let orderers = || {
            self.orderers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((g, org)) = orderers().get(id)
            && (*g == generation || generation == 0)
        {
            return self.rules.share(org);
        }
        // Read outside the lock: a store read never holds up the other streams.
        match self.store.get(id) {
            Ok(Some(intent)) => {
                let share = self.rules.share(&intent.organisation);
                orderers().insert(id.to_string(), (intent.generation, intent.organisation));
                share
            }
            Ok(None) => self.rules.default,
            Err(e) => {
                tracing::warn!(intent.id = %id, error = %e, "who ordered the intent is unknown; disclosing nothing");
                Share {
                    site_detail: false,
                    logs: false,
                }
            }
        }
    }

    /// `status` as it may leave the domain.
    pub fn status(&self, status: pb::IntentStatus) -> pb::IntentStatus {
        let share = self.share(&status.intent_id, status.generation);
        redact(status, share)
    }

    /// Whether log records of intent `id` may leave the domain.
    pub fn logs(&self, id: &str) -> bool {
        self.share(id, 0).logs
    }
}

/// Whether a reason names a site or reports what one site said.
fn names_a_site(r: &StatusReason) -> bool {
    matches!(
        r,
        StatusReason::SyncFailing { .. }
            | StatusReason::BlueprintPending { .. }
            | StatusReason::SitePaused { .. }
            | StatusReason::Unhealthy { .. }
            | StatusReason::FellBack { .. }
    ) || r.unreachable_site().is_some()
}

#[cfg(test)]
#[path = "disclosure_tests.rs"]
mod tests;
