//! The rollout state machine: `step(rollout, input, now) -> (rollout, actions)`, pure. It
//! applies the operator's command, then passes over the rollout until nothing moves (a wave
//! that passes starts the next in the same step), then says which sites hold it and why.
//! Stepping again with the same input and time changes nothing and returns no action.
//!
//! Rules: a site succeeds only when it reported healthy at the new generation for the whole
//! bake time, in a report made after the bake time ended — silence never counts as success; a
//! started site unheard for the report timeout is not reporting, which holds its wave or counts
//! as a failure (the gate's policy); a site that failed `fall_back_after` times, or says it
//! fell back, is recorded as fallen back; a wave passes once every site of it succeeded or
//! failed and enough succeeded; enough failures abort at once; an abort returns exactly the
//! sites that changed; a pause starts no site and passes no wave, but failures still abort.

use super::action::Action;
use super::input::{Command, Health, Input, SiteReport};
use super::observe::{healthy_since, ms, report, silent, wait_reasons};
use super::state::{AbortReason, Failure, Phase, Rollout, SiteState, WaveTally};

/// One step of `rollout` at `now_ms`, reading `input`.
pub fn step(rollout: &Rollout, input: &Input, now_ms: i64) -> (Rollout, Vec<Action>) {
    let mut r = rollout.clone();
    let mut actions = Vec::new();
    if r.phase.is_final() {
        return (r, actions);
    }
    if let Some(c) = input.command {
        command(&mut r, c, now_ms, &mut actions);
    }
    // Every pass that changes something moves a site or a wave forward: this bound is never hit.
    let bound = 4 * (r.sites.len() + r.waves.len()) + 8;
    for _ in 0..bound {
        let before = (r.phase.clone(), r.sites.clone());
        pass(&mut r, input, now_ms, &mut actions);
        if (&r.phase, &r.sites) == (&before.0, &before.1) {
            break;
        }
    }
    let waiting = wait_reasons(&r, input, now_ms);
    if waiting != r.waiting {
        if !waiting.is_empty() {
            actions.push(Action::Wait {
                sites: waiting.clone(),
            });
        }
        r.waiting = waiting;
    }
    (r, actions)
}

fn command(r: &mut Rollout, c: Command, now_ms: i64, actions: &mut Vec<Action>) {
    let wave = match r.phase {
        Phase::Pending => 0,
        Phase::Rolling { wave } | Phase::Baking { wave } | Phase::Paused { wave, .. } => wave,
        _ => return,
    };
    let paused = matches!(r.phase, Phase::Paused { .. });
    match c {
        Command::Pause if !paused => {
            r.phase = Phase::Paused {
                wave,
                at_ms: now_ms,
            }
        }
        Command::Resume if paused => r.phase = Phase::Rolling { wave },
        Command::Abort => abort(r, AbortReason::Operator, now_ms, actions),
        Command::Pause | Command::Resume => {}
    }
}

fn pass(r: &mut Rollout, input: &Input, now_ms: i64, actions: &mut Vec<Action>) {
    match r.phase.clone() {
        Phase::Pending => r.phase = Phase::Rolling { wave: 0 },
        Phase::Rolling { wave } | Phase::Baking { wave } => {
            wave_pass(r, wave, false, input, now_ms, actions)
        }
        Phase::Paused { wave, .. } => wave_pass(r, wave, true, input, now_ms, actions),
        Phase::RollingBack { reason } => rollback_pass(r, reason, input, now_ms, actions),
        Phase::RolledBack { .. } | Phase::Completed => {}
    }
}

/// What a started site became, if it settled.
fn settle(r: &Rollout, started_ms: i64, rep: &SiteReport, now_ms: i64) -> Option<SiteState> {
    let at_new = rep.generation == r.generation;
    let failed = |failure| {
        Some(SiteState::Failed {
            at_ms: now_ms,
            failure,
        })
    };
    match &rep.health {
        Health::Failed { attempts, .. } if at_new && *attempts >= r.gate.fall_back_after => {
            return failed(Failure::FellBack {
                attempts: *attempts,
            });
        }
        _ if rep.fell_back_from == Some(r.generation) => {
            let attempts = r.gate.fall_back_after;
            return failed(Failure::FellBack { attempts });
        }
        Health::Failed { reason, .. } if at_new => {
            let reason = reason.clone();
            return failed(Failure::Unhealthy { reason });
        }
        _ => {}
    }
    if let Some(since) = healthy_since(r, rep) {
        let until = since.saturating_add(ms(r.gate.bake_ms));
        if until <= now_ms && rep.last_heard_ms >= until {
            return Some(SiteState::Succeeded { at_ms: now_ms });
        }
    }
    if silent(r, started_ms, rep, now_ms) && r.gate.silent == super::strategy::SilentPolicy::Fail {
        let last_heard_ms = (rep.last_heard_ms > 0).then_some(rep.last_heard_ms);
        return failed(Failure::NotReporting { last_heard_ms });
    }
    None
}

fn wave_pass(
    r: &mut Rollout,
    w: usize,
    paused: bool,
    input: &Input,
    now_ms: i64,
    actions: &mut Vec<Action>,
) {
    let Some(wave) = r.waves.get(w).cloned() else {
        r.phase = Phase::Completed;
        actions.push(Action::Complete);
        return;
    };
    for name in &wave {
        if let Some(SiteState::Started { at_ms }) = r.sites.get(name).cloned()
            && let Some(next) = settle(r, at_ms, &report(input, name), now_ms)
        {
            r.sites.insert(name.clone(), next);
        }
    }
    let state = |r: &Rollout, n: &String| r.sites.get(n).cloned().unwrap_or(SiteState::Waiting);
    let failed = wave
        .iter()
        .filter(|n| matches!(state(r, n), SiteState::Failed { .. }))
        .count();
    let limit = r.gate.failure.of(wave.len()).max(1);
    if failed >= limit {
        let reason = AbortReason::FailureThreshold {
            wave: w,
            failed,
            limit,
        };
        return abort(r, reason, now_ms, actions);
    }
    if paused {
        return;
    }
    let slots = usize::try_from(r.max_changing)
        .unwrap_or(usize::MAX)
        .saturating_sub(r.changing());
    let start: Vec<String> = wave
        .iter()
        .filter(|n| state(r, n) == SiteState::Waiting && report(input, n).maintenance.is_none())
        .take(slots)
        .cloned()
        .collect();
    for n in &start {
        r.sites
            .insert(n.clone(), SiteState::Started { at_ms: now_ms });
    }
    if !start.is_empty() {
        actions.push(Action::StartSites {
            wave: w,
            sites: start,
        });
    }
    let succeeded = wave
        .iter()
        .filter(|n| matches!(state(r, n), SiteState::Succeeded { .. }))
        .count();
    if succeeded + failed == wave.len() {
        let required = r.gate.success.of(wave.len());
        if succeeded < required {
            let reason = AbortReason::SuccessThresholdUnmet {
                wave: w,
                succeeded,
                required,
            };
            return abort(r, reason, now_ms, actions);
        }
        r.passed.push(WaveTally {
            succeeded,
            failed,
            required,
        });
        if w + 1 == r.waves.len() {
            r.phase = Phase::Completed;
            actions.push(Action::Complete);
        } else {
            r.phase = Phase::Rolling { wave: w + 1 };
            actions.push(Action::Advance { wave: w + 1 });
        }
        return;
    }
    let baking = wave.iter().all(|n| match state(r, n) {
        SiteState::Waiting => false,
        SiteState::Started { .. } => healthy_since(r, &report(input, n)).is_some(),
        _ => true,
    });
    r.phase = if baking {
        Phase::Baking { wave: w }
    } else {
        Phase::Rolling { wave: w }
    };
}

/// Aborts: every site that changed (and is not on its way back already) returns.
fn abort(r: &mut Rollout, reason: AbortReason, now_ms: i64, actions: &mut Vec<Action>) {
    actions.push(Action::Abort {
        reason: reason.clone(),
    });
    let back: Vec<String> = r
        .sites
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                SiteState::Started { .. } | SiteState::Succeeded { .. } | SiteState::Failed { .. }
            )
        })
        .map(|(n, _)| n.clone())
        .collect();
    for n in &back {
        r.sites
            .insert(n.clone(), SiteState::RollingBack { at_ms: now_ms });
    }
    if back.is_empty() {
        r.phase = Phase::RolledBack { reason };
        actions.push(Action::RolledBack);
    } else {
        r.phase = Phase::RollingBack { reason };
        actions.push(Action::RollBack { sites: back });
    }
}

/// A site is back when it reports the previous generation in a report made after it was told.
fn rollback_pass(
    r: &mut Rollout,
    reason: AbortReason,
    input: &Input,
    now_ms: i64,
    actions: &mut Vec<Action>,
) {
    let previous = r.previous_generation;
    let mut left = 0;
    for (name, site) in r.sites.iter_mut() {
        if let SiteState::RollingBack { at_ms } = *site {
            let rep = report(input, name);
            if rep.generation == previous && rep.last_heard_ms >= at_ms {
                *site = SiteState::RolledBack { at_ms: now_ms };
            } else {
                left += 1;
            }
        }
    }
    if left == 0 {
        r.phase = Phase::RolledBack { reason };
        actions.push(Action::RolledBack);
    }
}
