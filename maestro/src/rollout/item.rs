//! An order item's rollout as maestro stores it with the item: the strategy, the machine's
//! state, what the sites return to, the intents the item sends (one per domain, without their
//! rollout part) and what maestro observed of each site on its own clock. Sites are named
//! `domain/site`, so that two domains may have sites of the same name.

use super::input::Command;
use super::state::{Rollout, SiteState};
use super::strategy::Strategy;
use crate::intent::{IntentRollout, OutboxEntry, PreviousSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rollout of one order item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRollout {
    /// As ordered.
    pub strategy: Strategy,
    /// The state machine's state.
    pub machine: Rollout,
    /// What the sites ran before (`None`: nothing; the service is new to them).
    pub previous: Option<PreviousSpec>,
    /// The item's deliveries, one per domain, without the rollout part of their intent.
    pub intents: Vec<OutboxEntry>,
    /// Increases each time sites move; carried on the intents as their rollout step.
    pub step: u64,
    /// Operator commands not yet applied, in arrival order.
    #[serde(default)]
    pub commands: Vec<Command>,
    /// Since when (maestro's clock) each site has been seen healthy at the new generation.
    #[serde(default)]
    pub healthy_since: BTreeMap<String, i64>,
    /// Since when (maestro's clock) each site has been cut off.
    #[serde(default)]
    pub unheard_since: BTreeMap<String, i64>,
}

/// The rollout name of `site` of `domain`.
pub fn site_key(domain: &str, site: &str) -> String {
    format!("{domain}/{site}")
}

/// The domain and site of a rollout name.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

impl ItemRollout {
    /// The sites of `domain` that run the new generation: told to move and not told to return.
    pub fn admitted(&self, domain: &str) -> Vec<String> {
        self.machine
            .sites
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s,
                    SiteState::Started { .. }
                        | SiteState::Succeeded { .. }
                        | SiteState::Failed { .. }
                )
            })
            .filter_map(|(k, _)| {
                let (d, s) = split_key(k);
                (d == domain).then(|| s.to_string())
            })
            .collect()
    }

    /// The outbox entries that tell every domain of the item where the rollout stands now.
    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.intents
            .iter()
            .map(|base| {
                let mut entry = base.clone();
                entry.intent.rollout = Some(IntentRollout {
                    step: self.step,
                    sites: self.admitted(&base.domain),
                    previous: self.previous.clone(),
                    fall_back_after: self.machine.gate.fall_back_after,
                });
                entry
            })
            .collect()
    }

    /// Counts of sites: changed (ever told to move), succeeded, failed.
    pub fn counts(&self) -> (usize, usize, usize) {
        let sites = self.machine.sites.values();
        let changed = sites.clone().filter(|s| s.changed()).count();
        let succeeded = sites
            .clone()
            .filter(|s| matches!(s, SiteState::Succeeded { .. }))
            .count();
        let failed = sites
            .filter(|s| matches!(s, SiteState::Failed { .. }))
            .count();
        (changed, succeeded, failed)
    }
}
