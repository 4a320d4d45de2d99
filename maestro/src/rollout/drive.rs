//! Drives the rollouts of an order: one step of each open item's machine with what the sites
//! reported and the operator's pending commands, the notes its actions deserve, and the intents
//! to send when sites move. Pure: the engine runs it inside the order's update, so the new
//! state, the notes and the outbox entries are stored together.

use super::action::Action;
use super::input::Input;
use super::item::ItemRollout;
use super::machine::step;
use super::reports::site_reports;
use super::state::AbortReason;
use super::state::Phase;
use crate::intent::{IntentStatus, OutboxEntry};
use crate::model::{Order, OrderState};
use crate::registry::DomainHealth;
use maestro_common::status::StatusReason;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most site names a note lists before it says how many more.
const NOTE_SITES: usize = 8;

/// Steps every open item's rollout of `order` at `now_ms`; returns the outbox entries to store
/// and send with the order.
pub fn drive_order(
    order: &mut Order,
    statuses: &BTreeMap<String, IntentStatus>,
    domains: &BTreeMap<String, DomainHealth>,
    now_ms: i64,
) -> Vec<OutboxEntry> {
    if order.state.is_final() {
        return Vec::new();
    }
    let mut sends = Vec::new();
    let mut notes = Vec::new();
    for item in &mut order.items {
        if item.state.is_final() {
            continue;
        }
        let Some(mut r) = item.rollout.take() else {
            continue;
        };
        let superseded = item.domains.iter().any(|d| {
            statuses
                .get(&d.intent_id)
                .is_some_and(|s| s.generation > r.machine.generation)
        });
        if !superseded {
            let reports = site_reports(item, &mut r, statuses, domains, now_ms);
            let before = moved(&r);
            let commands = std::mem::take(&mut r.commands);
            let mut actions = Vec::new();
            for command in commands.into_iter().map(Some).chain([None]) {
                let input = Input {
                    reports: reports.clone(),
                    command,
                };
                let (machine, done) = step(&r.machine, &input, now_ms);
                r.machine = machine;
                actions.extend(done);
            }
            if moved(&r) != before {
                r.step += 1;
                sends.extend(r.entries());
            }
            notes.extend(
                actions
                    .iter()
                    .filter_map(|a| note(a, &r))
                    .map(|n| format!("item {}: {n}", item.id)),
            );
        }
        item.rollout = Some(r);
    }
    for n in notes {
        order.note(now_ms, n);
    }
    sends
}

/// An item's state and reason with its rollout: never final before the rollout is (a domain
/// that refused or a site that failed is the rollout's business: it aborts and rolls back);
/// failed once rolled back; otherwise what the domains say.
pub fn item_state(
    r: &ItemRollout,
    state: OrderState,
    reason: Option<StatusReason>,
) -> (OrderState, Option<StatusReason>) {
    match &r.machine.phase {
        Phase::Completed => (state, reason),
        Phase::RolledBack { reason: why } => {
            let (changed, _, _) = r.counts();
            let error = format!(
                "rollout {}; the {} that changed run generation {} again",
                abort_text(why),
                plural(changed),
                r.machine.previous_generation
            );
            let domain = String::new();
            (
                OrderState::Failed,
                Some(StatusReason::Failed { domain, error }),
            )
        }
        _ if state == OrderState::Pending => (state, reason),
        _ if state.is_final() => (OrderState::InProgress, reason),
        _ => (OrderState::InProgress, reason),
    }
}

/// The sites that run the new generation, per domain.
fn moved(r: &ItemRollout) -> Vec<Vec<String>> {
    r.intents.iter().map(|e| r.admitted(&e.domain)).collect()
}

fn sites_text(sites: &[String]) -> String {
    let mut out = sites
        .iter()
        .take(NOTE_SITES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if sites.len() > NOTE_SITES {
        let _ = write!(out, " and {} more", sites.len() - NOTE_SITES);
    }
    out
}

/// Why a rollout was aborted, for people.
pub fn abort_text(reason: &AbortReason) -> String {
    match reason {
        AbortReason::Operator => "aborted by an operator".into(),
        AbortReason::FailureThreshold {
            wave,
            failed,
            limit,
        } => format!("{failed} sites of wave {wave} failed (the gate aborts at {limit})"),
        AbortReason::SuccessThresholdUnmet {
            wave,
            succeeded,
            required,
        } => format!("wave {wave} ended with {succeeded} sites succeeded ({required} required)"),
    }
}

/// The note an action deserves (none for wait reasons: they are the item's status).
pub(crate) fn note(action: &Action, r: &ItemRollout) -> Option<String> {
    let g = r.machine.generation;
    let p = r.machine.previous_generation;
    Some(match action {
        Action::StartSites { wave, sites } => format!(
            "rollout wave {wave}: moving {} to generation {g}: {}",
            plural(sites.len()),
            sites_text(sites)
        ),
        Action::Advance { wave } => format!(
            "rollout wave {} passed; wave {wave} starts",
            wave.saturating_sub(1)
        ),
        Action::Abort { reason } => format!("rollout aborted: {}", abort_text(reason)),
        Action::RollBack { sites } => format!(
            "rolling back {} to generation {p}: {}",
            plural(sites.len()),
            sites_text(sites)
        ),
        Action::RolledBack => {
            let (changed, _, _) = r.counts();
            format!(
                "rolled back: the {} that changed run generation {p} again",
                plural(changed)
            )
        }
        Action::Complete => format!("rollout completed: every wave passed at generation {g}"),
        Action::Wait { .. } => return None,
    })
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 site".into()
    } else {
        format!("{n} sites")
    }
}
