//! Builders shared by the rollout tests.

use super::strategy::{
    LabelMatch, SilentPolicy, SiteOrder, Strategy, Threshold, WaveGate, WaveSizes,
};
use super::waves::TargetSite;
use super::{Health, Input, Rollout, SiteReport};

/// The start of every test's clock.
pub const T0: i64 = 1_000_000;
/// Bake time of [`strategy`].
pub const BAKE: i64 = 60_000;
/// Report timeout of [`strategy`].
pub const TIMEOUT: i64 = 300_000;
/// The generation sites leave.
pub const OLD: u64 = 4;
/// The generation sites move to.
pub const NEW: u64 = 5;

/// Waves of these counts; all must succeed, one failure aborts; silent sites block.
pub fn strategy(counts: &[u32]) -> Strategy {
    Strategy {
        waves: WaveSizes::Counts(counts.to_vec()),
        canary: None,
        order: SiteOrder::default(),
        gate: WaveGate {
            success: Threshold::Fraction(1.0),
            failure: Threshold::Count(1),
            bake_ms: BAKE as u64,
            report_timeout_ms: TIMEOUT as u64,
            silent: SilentPolicy::Block,
            fall_back_after: 3,
        },
        max_changing: 1000,
    }
}

/// The canary label.
pub fn canary() -> LabelMatch {
    LabelMatch {
        key: "canary".into(),
        value: "true".into(),
    }
}

/// Sites `s00`, `s01`, … without labels.
pub fn sites(n: usize) -> Vec<TargetSite> {
    (0..n)
        .map(|i| TargetSite::new(&format!("s{i:02}"), []))
        .collect()
}

/// A pending rollout of `targets` from [`OLD`] to [`NEW`].
pub fn rollout(strategy: &Strategy, targets: &[TargetSite]) -> Rollout {
    Rollout::new(strategy, targets, OLD, NEW).expect("valid rollout")
}

/// Healthy at `generation` since `since`, heard at `heard`.
pub fn healthy(generation: u64, since: i64, heard: i64) -> SiteReport {
    SiteReport {
        generation,
        health: Health::Healthy { since_ms: since },
        last_heard_ms: heard,
        ..SiteReport::default()
    }
}

/// Failing at [`NEW`] (`attempts` in a row), heard at `heard`.
pub fn failing(attempts: u32, heard: i64) -> SiteReport {
    SiteReport {
        generation: NEW,
        health: Health::Failed {
            reason: "health check failed".into(),
            attempts,
        },
        last_heard_ms: heard,
        ..SiteReport::default()
    }
}

/// Back at [`OLD`] and running, heard at `heard`.
pub fn back(heard: i64) -> SiteReport {
    healthy(OLD, 0, heard)
}

/// An input of these reports and no command.
pub fn input<'a>(reports: impl IntoIterator<Item = (&'a str, SiteReport)>) -> Input {
    Input {
        reports: reports
            .into_iter()
            .map(|(n, r)| (n.to_string(), r))
            .collect(),
        command: None,
    }
}

/// One step that must be idempotent: stepping its result again with the same input and time
/// changes nothing and returns no action.
pub fn go(r: &Rollout, input: &Input, now: i64) -> (Rollout, Vec<super::Action>) {
    let (next, actions) = super::step(r, input, now);
    let (again, none) = super::step(&next, input, now);
    assert_eq!(again, next, "a second step moved the rollout");
    assert!(none.is_empty(), "a second step acted: {none:?}");
    (next, actions)
}

/// The actions that are not `Wait`.
pub fn moves(actions: &[super::Action]) -> Vec<super::Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, super::Action::Wait { .. }))
        .cloned()
        .collect()
}

/// The wait reasons among `actions`, if any were sent.
pub fn waits(
    actions: &[super::Action],
) -> Option<std::collections::BTreeMap<String, super::WaitReason>> {
    actions.iter().find_map(|a| match a {
        super::Action::Wait { sites } => Some(sites.clone()),
        _ => None,
    })
}

/// Names as owned strings.
pub fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(ToString::to_string).collect()
}
