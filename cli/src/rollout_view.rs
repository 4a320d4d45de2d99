//! `rollout status`: the rollouts of an order as the CLI shows them — per item a summary (phase,
//! wave, generations, counts, why it was aborted) and a table of its sites; or the same as
//! JSON/YAML.

use crate::output::{Output, structured};
use crate::table::{Table, age_of};
use maestro_proto::order::v1 as pb;
use serde::Serialize;

/// The rollouts of one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutsView {
    /// Order id.
    pub order: String,
    /// The order's state.
    pub state: String,
    /// One per item with a rollout.
    pub items: Vec<RolloutView>,
}

/// The rollout of one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    /// Item id.
    pub item: String,
    /// Service name.
    pub service: String,
    /// pending, rolling, baking, paused, rolling_back, rolled_back, completed.
    pub phase: String,
    /// The wave rolling, counted from 1.
    pub wave: u32,
    /// How many waves.
    pub waves: u32,
    /// The generation rolled out.
    pub generation: u64,
    /// The generation sites return to on an abort.
    pub previous_generation: u64,
    /// Sites told to move so far.
    pub changed: u32,
    /// Sites that succeeded.
    pub succeeded: u32,
    /// Sites that failed.
    pub failed: u32,
    /// Why it was aborted.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub abort_reason: String,
    /// Per site.
    pub sites: Vec<RolloutSiteView>,
}

/// One site of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSiteView {
    /// Wave, counted from 1.
    pub wave: u32,
    /// Domain.
    pub domain: String,
    /// Site.
    pub site: String,
    /// waiting, started, succeeded, failed, rolling_back, rolled_back.
    pub state: String,
    /// Why it waits or failed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Since when (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

impl RolloutsView {
    /// The rollouts of `order` (items without one are left out).
    pub fn of(order: &pb::ServiceOrder) -> Self {
        let items = order
            .items
            .iter()
            .filter_map(|i| {
                let r = i.rollout.as_ref()?;
                Some(RolloutView {
                    item: i.id.clone(),
                    service: i
                        .service
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default(),
                    phase: r.phase.clone(),
                    wave: r.wave + 1,
                    waves: r.waves,
                    generation: r.generation,
                    previous_generation: r.previous_generation,
                    changed: r.changed,
                    succeeded: r.succeeded,
                    failed: r.failed,
                    abort_reason: r.abort_reason.clone(),
                    sites: r
                        .sites
                        .iter()
                        .map(|s| RolloutSiteView {
                            wave: s.wave + 1,
                            domain: s.domain.clone(),
                            site: s.site.clone(),
                            state: s.state.clone(),
                            detail: s.detail.clone(),
                            since: crate::view::time(s.since.as_ref()),
                        })
                        .collect(),
                })
            })
            .collect();
        Self {
            order: order.id.clone(),
            state: crate::states::order_state(order.state).to_string(),
            items,
        }
    }
}

/// The rollouts as text (`table`) or as JSON/YAML.
pub fn rollouts(v: &RolloutsView, output: Output) -> String {
    if output != Output::Table {
        return structured(v, output);
    }
    let mut out = format!("Order:       {} ({})\n", v.order, v.state);
    for r in &v.items {
        out.push('\n');
        out.push_str(&format!("Item:        {} ({})\n", r.item, r.service));
        out.push_str(&format!(
            "Rollout:     {}, wave {} of {}, generation {} -> {}\n",
            r.phase, r.wave, r.waves, r.previous_generation, r.generation
        ));
        out.push_str(&format!(
            "Sites:       {} changed, {} succeeded, {} failed of {}\n",
            r.changed,
            r.succeeded,
            r.failed,
            r.sites.len()
        ));
        if !r.abort_reason.is_empty() {
            out.push_str(&format!("Aborted:     {}\n", r.abort_reason));
        }
        let mut t = Table::new(&["WAVE", "DOMAIN", "SITE", "STATE", "SINCE", "DETAIL"]);
        let mut sites: Vec<&RolloutSiteView> = r.sites.iter().collect();
        sites.sort_by(|a, b| (a.wave, &a.domain, &a.site).cmp(&(b.wave, &b.domain, &b.site)));
        for s in sites {
            let since = s
                .since
                .as_deref()
                .map(|d| format!("{} ago", age_of(Some(d))))
                .unwrap_or_else(|| "-".into());
            t.row(vec![
                s.wave.to_string(),
                s.domain.clone(),
                s.site.clone(),
                s.state.clone(),
                since,
                s.detail.clone(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    if v.items.is_empty() {
        out.push_str("\nNo item of this order has a rollout.\n");
    }
    out
}
