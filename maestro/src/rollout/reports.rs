//! What the machine reads of each site, made from what the domains report (the item's intent
//! statuses) and from maestro's view of the domains' liveness. Every time is maestro's: a site
//! the domain reports reachable is heard now; one cut off (or whose domain is) was last heard
//! when maestro first saw it cut off. A site's own clock, or its domain's, never moves a wave.

use super::input::{Health, SiteReport};
use super::item::{ItemRollout, split_key};
use crate::intent::IntentStatus;
use crate::model::{Delivery, OrderItem, SiteProgress};
use crate::registry::DomainHealth;
use maestro_common::status::StatusReason;
use std::collections::BTreeMap;

/// Each site's report, updating what `rollout` remembers of healthy and cut-off sites.
pub fn site_reports(
    item: &OrderItem,
    rollout: &mut ItemRollout,
    statuses: &BTreeMap<String, IntentStatus>,
    domains: &BTreeMap<String, DomainHealth>,
    now_ms: i64,
) -> BTreeMap<String, SiteReport> {
    let generation = rollout.machine.generation;
    let keys: Vec<String> = rollout.machine.sites.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for key in keys {
        let (domain, site) = split_key(&key);
        let Some(dp) = item.domains.iter().find(|d| d.domain == domain) else {
            continue;
        };
        if dp.delivery == Delivery::Rejected {
            // The domain refused the intent: its sites will never move.
            let reason = format!("domain {domain} refused the intent: {}", dp.message);
            out.insert(
                key.clone(),
                SiteReport {
                    health: Health::Failed {
                        reason,
                        attempts: 1,
                    },
                    generation,
                    last_heard_ms: now_ms,
                    ..SiteReport::default()
                },
            );
            continue;
        }
        let status = statuses.get(&dp.intent_id);
        let Some(sp) = status.and_then(|s| s.sites.iter().find(|p| p.site == site)) else {
            continue;
        };
        let domain_cut = domains.get(domain).is_some_and(|h| h.unreachable(now_ms));
        let last_heard_ms = if domain_cut || sp.unreachable {
            *rollout.unheard_since.entry(key.clone()).or_insert(now_ms)
        } else {
            rollout.unheard_since.remove(&key);
            now_ms
        };
        let mut report = observe(sp, generation);
        report.last_heard_ms = last_heard_ms;
        report.maintenance = status.and_then(|s| maintenance(&s.reasons, &sp.reasons));
        if report.health == Health::Progressing && healthy(sp, generation) {
            let since = *rollout.healthy_since.entry(key.clone()).or_insert(now_ms);
            report.health = Health::Healthy { since_ms: since };
        } else {
            rollout.healthy_since.remove(&key);
        }
        out.insert(key, report);
    }
    out
}

/// Every blueprint of the site ready at the new generation, which is what the site is to run.
fn healthy(sp: &SiteProgress, generation: u64) -> bool {
    sp.desired_generation == generation
        && sp.observed_generation == generation
        && sp.total > 0
        && sp.ready == sp.total
}

/// The generation the site runs, and its failures at `generation`, from its progress: the
/// desired generation once every blueprint is ready at it, otherwise what the site was last seen
/// running. A site told to return is back only when it is ready at the previous generation, not
/// as soon as its domain wants it there.
fn observe(sp: &SiteProgress, generation: u64) -> SiteReport {
    let runs = if sp.ready == sp.total {
        // Every blueprint is ready at the desired generation (or nothing is to run there).
        sp.desired_generation
    } else {
        sp.observed_generation
    };
    let mut report = SiteReport {
        generation: runs,
        health: Health::Progressing,
        ..SiteReport::default()
    };
    for r in &sp.reasons {
        match r {
            StatusReason::FellBack {
                from_generation, ..
            } if *from_generation == generation => report.fell_back_from = Some(generation),
            StatusReason::Unhealthy {
                generation: g,
                attempts,
                ..
            } if *g == generation => {
                // The verdict is about the new generation's instances, whatever else runs.
                report.generation = generation;
                report.health = Health::Failed {
                    reason: r.to_string(),
                    attempts: *attempts,
                };
            }
            _ => {}
        }
    }
    if report.fell_back_from.is_some() {
        // It runs what it ran before, by its own decision; the machine records the fall-back.
        report.health = Health::Progressing;
    }
    report
}

/// A maintenance window of the domain, or a local pause of the site, as a reason.
fn maintenance(domain: &[StatusReason], site: &[StatusReason]) -> Option<String> {
    domain
        .iter()
        .chain(site)
        .find(|r| {
            matches!(
                r,
                StatusReason::MaintenanceWindow { .. } | StatusReason::SitePaused { .. }
            )
        })
        .map(ToString::to_string)
}
