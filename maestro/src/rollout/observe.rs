//! How the machine reads a site's report: whether the site is silent, whether it is healthy at
//! the new generation, and why it holds the rollout now.

use super::action::WaitReason;
use super::input::{Health, Input, SiteReport};
use super::state::{Phase, Rollout, SiteState};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The site's report, or a report of a site never heard.
pub(super) fn report<'a>(input: &'a Input, site: &str) -> Cow<'a, SiteReport> {
    input
        .reports
        .get(site)
        .map_or_else(|| Cow::Owned(SiteReport::default()), Cow::Borrowed)
}

/// A duration of the strategy as a span of timestamps.
pub(super) fn ms(d: u64) -> i64 {
    i64::try_from(d).unwrap_or(i64::MAX)
}

/// Unheard for the report timeout since the later of its start and its last report.
pub(super) fn silent(r: &Rollout, started_ms: i64, rep: &SiteReport, now_ms: i64) -> bool {
    let heard = started_ms.max(rep.last_heard_ms);
    now_ms.saturating_sub(heard) >= ms(r.gate.report_timeout_ms)
}

/// `Some(since)` when the site reports healthy at the new generation.
pub(super) fn healthy_since(r: &Rollout, rep: &SiteReport) -> Option<i64> {
    match rep.health {
        Health::Healthy { since_ms } if rep.generation == r.generation => Some(since_ms),
        _ => None,
    }
}

/// Which sites hold the rollout now, and why.
pub(super) fn wait_reasons(
    r: &Rollout,
    input: &Input,
    now_ms: i64,
) -> BTreeMap<String, WaitReason> {
    let mut out = BTreeMap::new();
    let (wave, paused) = match &r.phase {
        Phase::Rolling { wave } | Phase::Baking { wave } => (*wave, false),
        Phase::Paused { wave, .. } => (*wave, true),
        Phase::RollingBack { .. } => {
            for (name, site) in &r.sites {
                if let SiteState::RollingBack { at_ms } = site {
                    let rep = report(input, name);
                    let why = if silent(r, *at_ms, &rep, now_ms) {
                        not_reporting(&rep)
                    } else {
                        WaitReason::Returning { since_ms: *at_ms }
                    };
                    out.insert(name.clone(), why);
                }
            }
            return out;
        }
        _ => return out,
    };
    let full = r.changing() >= usize::try_from(r.max_changing).unwrap_or(usize::MAX);
    for name in r.waves.get(wave).into_iter().flatten() {
        let rep = report(input, name);
        let why = match r.sites.get(name) {
            Some(SiteState::Waiting) => match &rep.maintenance {
                Some(reason) => WaitReason::Maintenance {
                    reason: reason.clone(),
                },
                None if full && !paused => WaitReason::MaxChanging {
                    limit: r.max_changing,
                },
                None => continue,
            },
            Some(SiteState::Started { at_ms }) => {
                match (&rep.maintenance, healthy_since(r, &rep)) {
                    (Some(reason), _) => WaitReason::Maintenance {
                        reason: reason.clone(),
                    },
                    _ if silent(r, *at_ms, &rep, now_ms) => not_reporting(&rep),
                    (None, Some(since)) => WaitReason::Baking {
                        until_ms: since.saturating_add(ms(r.gate.bake_ms)),
                    },
                    (None, None) => WaitReason::Converging { started_ms: *at_ms },
                }
            }
            _ => continue,
        };
        out.insert(name.clone(), why);
    }
    out
}

fn not_reporting(rep: &SiteReport) -> WaitReason {
    WaitReason::NotReporting {
        last_heard_ms: (rep.last_heard_ms > 0).then_some(rep.last_heard_ms),
    }
}
