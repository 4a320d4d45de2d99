//! The rollout of an order item as the API shows it (`RolloutStatus`): its phase, wave and
//! counts, and one line per site with its state, why it waits or failed, and since when.

use super::action::WaitReason;
use super::drive::abort_text;
use super::item::{ItemRollout, split_key};
use super::state::{Failure, Phase, SiteState};
use maestro_common::time::{rfc3339, timestamp};
use maestro_proto::order::v1 as pb;

/// The phase's name, as the API spells it.
pub fn phase_name(p: &Phase) -> &'static str {
    match p {
        Phase::Pending => "pending",
        Phase::Rolling { .. } => "rolling",
        Phase::Baking { .. } => "baking",
        Phase::Paused { .. } => "paused",
        Phase::RollingBack { .. } => "rolling_back",
        Phase::RolledBack { .. } => "rolled_back",
        Phase::Completed => "completed",
    }
}

fn wave_of(r: &ItemRollout, key: &str) -> usize {
    r.machine
        .waves
        .iter()
        .position(|w| w.iter().any(|s| s == key))
        .unwrap_or(0)
}

fn wait_text(w: &WaitReason) -> String {
    match w {
        WaitReason::Converging { .. } => "converging".into(),
        WaitReason::Baking { until_ms } => format!("baking until {}", rfc3339(*until_ms)),
        WaitReason::NotReporting {
            last_heard_ms: Some(t),
        } => format!("not reporting (last heard {})", rfc3339(*t)),
        WaitReason::NotReporting {
            last_heard_ms: None,
        } => "not reporting (never heard)".into(),
        WaitReason::Maintenance { reason } => reason.clone(),
        WaitReason::MaxChanging { limit } => format!("waiting: {limit} sites changing at once"),
        WaitReason::Returning { .. } => "returning to the previous generation".into(),
    }
}

fn failure_text(f: &Failure) -> String {
    match f {
        Failure::Unhealthy { reason } => format!("unhealthy: {reason}"),
        Failure::NotReporting {
            last_heard_ms: Some(t),
        } => format!("not reporting (last heard {})", rfc3339(*t)),
        Failure::NotReporting {
            last_heard_ms: None,
        } => "not reporting (never heard)".into(),
        Failure::FellBack { attempts } => {
            format!("fell back by itself after {attempts} failed attempts")
        }
    }
}

fn site_line(r: &ItemRollout, key: &str, state: &SiteState) -> pb::RolloutSite {
    let (name, at, mut detail) = match state {
        SiteState::Waiting => ("waiting", None, String::new()),
        SiteState::Started { at_ms } => ("started", Some(*at_ms), String::new()),
        SiteState::Succeeded { at_ms } => ("succeeded", Some(*at_ms), String::new()),
        SiteState::Failed { at_ms, failure } => ("failed", Some(*at_ms), failure_text(failure)),
        SiteState::RollingBack { at_ms } => ("rolling_back", Some(*at_ms), String::new()),
        SiteState::RolledBack { at_ms } => ("rolled_back", Some(*at_ms), String::new()),
    };
    if let Some(w) = r.machine.waiting.get(key) {
        detail = wait_text(w);
    }
    let (domain, site) = split_key(key);
    pb::RolloutSite {
        domain: domain.to_string(),
        site: site.to_string(),
        wave: u32::try_from(wave_of(r, key)).unwrap_or(u32::MAX),
        state: name.to_string(),
        detail,
        since: at.map(timestamp),
    }
}

impl From<&ItemRollout> for pb::RolloutStatus {
    fn from(r: &ItemRollout) -> Self {
        let m = &r.machine;
        let wave = match &m.phase {
            Phase::Rolling { wave } | Phase::Baking { wave } | Phase::Paused { wave, .. } => *wave,
            Phase::Completed => m.waves.len().saturating_sub(1),
            _ => m.passed.len(),
        };
        let abort_reason = match &m.phase {
            Phase::RollingBack { reason } | Phase::RolledBack { reason } => abort_text(reason),
            _ => String::new(),
        };
        let (changed, succeeded, failed) = r.counts();
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            phase: phase_name(&m.phase).to_string(),
            wave: n(wave),
            waves: n(m.waves.len()),
            abort_reason,
            generation: m.generation,
            previous_generation: m.previous_generation,
            sites: m.sites.iter().map(|(k, s)| site_line(r, k, s)).collect(),
            strategy_json: serde_json::to_string(&r.strategy).unwrap_or_default(),
            changed: n(changed),
            succeeded: n(succeeded),
            failed: n(failed),
        }
    }
}
