//! Starting an item's rollout when its order is planned: the target sites with their labels,
//! what they return to, the machine's first step (the first sites to move) and the intents
//! that carry it. Pure, like the planning it is part of.

use super::action::Action;
use super::input::Input;
use super::item::{ItemRollout, site_key};
use super::machine::step;
use super::state::Rollout;
use super::strategy::Strategy;
use super::waves::TargetSite;
use crate::intent::{OutboxEntry, PreviousSpec};
use crate::inventory::InventoryEntry;
use crate::registry::DomainRecord;
use maestro_common::FieldError;
use std::collections::BTreeMap;

/// Labels every site carries besides its domain's and its own: its domain's id and its name.
pub const LABEL_DOMAIN: &str = "domain";
/// See [`LABEL_DOMAIN`].
pub const LABEL_SITE: &str = "site";

/// What the sites of a service run before a new generation, as the inventory knows it.
pub fn previous_spec(entry: Option<&InventoryEntry>) -> Result<Option<PreviousSpec>, FieldError> {
    let Some(e) = entry.filter(|e| !e.deleted) else {
        return Ok(None);
    };
    if e.templates.is_empty() {
        return Err(FieldError::new(
            "rollout_json",
            format!(
                "the blueprints of generation {} of '{}' are not known (it was ordered before \
                 rollouts were kept); order this change without a rollout",
                e.generation, e.name
            ),
        ));
    }
    let characteristics: serde_json::Map<String, serde_json::Value> = e
        .characteristics
        .iter()
        .map(|c| (c.name.clone(), c.value.clone()))
        .collect();
    Ok(Some(PreviousSpec {
        generation: e.generation,
        order_id: e.order_id.clone(),
        spec_id: e.spec_id.clone(),
        spec_version: e.spec_version.clone(),
        characteristics_json: serde_json::Value::Object(characteristics).to_string(),
        blueprint_templates_json: e.templates.clone(),
        traceparent: e.traceparent.clone(),
    }))
}

/// The sites `entries` target, named `domain/site`, with their labels: the domain's, then the
/// site's own (which win), then `domain` and `site`.
fn targets(entries: &[OutboxEntry], domains: &[DomainRecord]) -> Vec<TargetSite> {
    let mut out = Vec::new();
    for e in entries {
        let Some(d) = domains.iter().find(|d| d.id == e.domain) else {
            continue;
        };
        let sites = if e.intent.sites.is_empty() {
            &d.sites
        } else {
            &e.intent.sites
        };
        for s in sites {
            let mut labels: BTreeMap<String, String> = d.labels.clone();
            if let Some(own) = d.site_labels.get(s) {
                labels.extend(own.clone());
            }
            labels.insert(LABEL_DOMAIN.into(), d.id.clone());
            labels.insert(LABEL_SITE.into(), s.clone());
            out.push(TargetSite {
                name: site_key(&d.id, s),
                labels,
            });
        }
    }
    out
}

/// A started rollout: the item's rollout after its first step, the actions of that step and
/// the outbox entries to store in place of `entries`.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// The rollout to store with the item.
    pub rollout: ItemRollout,
    /// What the first step did.
    pub actions: Vec<Action>,
    /// The intents to send.
    pub entries: Vec<OutboxEntry>,
}

/// Starts rolling `entries` (the item's intents at `generation`) out over their sites with
/// `strategy`, from `previous`. Errors name the field under the item's `rollout_json`.
pub fn start(
    strategy: &Strategy,
    entries: Vec<OutboxEntry>,
    previous: Option<PreviousSpec>,
    generation: u64,
    domains: &[DomainRecord],
    now_ms: i64,
) -> Result<Started, FieldError> {
    let sites = targets(&entries, domains);
    let previous_generation = previous.as_ref().map_or(0, |p| p.generation);
    let machine = Rollout::new(strategy, &sites, previous_generation, generation)
        .map_err(|e| e.within("rollout_json"))?;
    let (machine, actions) = step(&machine, &Input::default(), now_ms);
    let rollout = ItemRollout {
        strategy: strategy.clone(),
        machine,
        previous,
        intents: entries,
        step: 1,
        commands: Vec::new(),
        healthy_since: BTreeMap::new(),
        unheard_since: BTreeMap::new(),
    };
    let entries = rollout.entries();
    Ok(Started {
        rollout,
        actions,
        entries,
    })
}
