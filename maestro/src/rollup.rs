//! The roll-up: a pure fold of intent statuses, delivery states and domain liveness into an
//! order's items and state. No I/O; unit-tested on its own.
//!
//! Rules: a domain's status counts only at the item's generation (older = still in progress);
//! an item is completed when every domain is active (terminated for a delete) at that
//! generation, failed when a domain is inactive or rejected the intent, pending (with a typed
//! reason carrying when it was last heard) while a domain or one of its target sites is
//! unreachable or the domain has not acknowledged, else in progress. Reasons hold timestamps,
//! never ages, so time passing alone never changes an order. Silence never fails or completes an item: an unreachable
//! domain or site holds it pending on its last known state, and when it is heard again the item
//! converges from the real status. An order is
//! completed when every item is, failed when every item failed, partial when all are final and
//! some failed; final items and orders never change again. Every state change appends a note and
//! every change bumps `revision`.

use crate::intent::IntentStatus;
use crate::model::{Action, Delivery, DomainProgress, Order, OrderItem, OrderState, ServiceState};
use crate::registry::DomainHealth;
use maestro_common::status::StatusReason;
use std::collections::BTreeMap;

/// How one domain stands for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DomainView {
    Failed(StatusReason),
    /// The domain refused the intent for good (its policy, an invalid intent): final for that
    /// domain only; the others go on.
    Rejected(StatusReason),
    Unreachable(StatusReason),
    Undelivered(StatusReason),
    Done,
    Working(StatusReason),
}

/// Folds `statuses` (by intent id) and `domains` (liveness by id) into `order` at `now_ms`.
pub fn roll_up(
    order: &Order,
    statuses: &BTreeMap<String, IntentStatus>,
    domains: &BTreeMap<String, DomainHealth>,
    now_ms: i64,
) -> Order {
    if order.state.is_final() {
        return order.clone();
    }
    let mut next = order.clone();
    let mut notes = Vec::new();
    for item in &mut next.items {
        for dp in &mut item.domains {
            if let Some(st) = statuses.get(&dp.intent_id) {
                apply_status(dp, st);
            }
        }
        if item.state.is_final() {
            continue;
        }
        let (state, reason) = item_state(item, statuses, domains, now_ms);
        let (state, reason) = match &item.rollout {
            Some(r) => crate::rollout::drive::item_state(r, state, reason),
            None => (state, reason),
        };
        for dp in &mut item.domains {
            dp.unreachable = unreachable_reason(
                dp,
                statuses.get(&dp.intent_id),
                domains.get(&dp.domain),
                now_ms,
            )
            .is_some();
        }
        if state != item.state {
            let why = reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            notes.push(format!("item {} {}{why}", item.id, state.name()));
        }
        item.state = state;
        item.status_reason = reason;
    }
    if let Some(state) = order_state(&next.items).filter(|s| *s != next.state) {
        next.state = state;
        notes.push(format!("order {}", state.name()));
        if state == OrderState::Completed {
            next.completion_date_ms = Some(now_ms);
        }
    }
    for n in notes {
        next.note(now_ms, n);
    }
    if next != *order {
        next.revision = order.revision + 1;
    }
    next
}

fn apply_status(dp: &mut DomainProgress, st: &IntentStatus) {
    if st.generation == dp.generation {
        dp.service_state = st.state;
        dp.observed_generation = st.observed_generation;
        dp.ready = st.ready;
        dp.total = st.total;
        dp.site_progress = st.sites.clone();
        dp.reasons = st.reasons.clone();
        dp.last_heard_ms = st.updated_at_ms;
        dp.withheld = st.withheld.clone();
    } else if st.generation > dp.generation {
        dp.reasons = vec![StatusReason::Superseded {
            generation: st.generation,
        }];
    }
}

/// `Some(ms)` for a known time, `None` for 0 (never).
fn known(ms: i64) -> Option<i64> {
    (ms > 0).then_some(ms)
}

/// Why `dp`'s domain or one of its target sites counts as unreachable, if it does.
fn unreachable_reason(
    dp: &DomainProgress,
    status: Option<&IntentStatus>,
    health: Option<&DomainHealth>,
    now_ms: i64,
) -> Option<StatusReason> {
    let domain = dp.domain.clone();
    match health {
        None => return Some(StatusReason::Unregistered { domain }),
        Some(h) if h.unreachable(now_ms) => {
            return Some(StatusReason::Unreachable {
                domain,
                site: None,
                last_heard_ms: known(h.last_heard_ms(now_ms)),
            });
        }
        Some(_) => {}
    }
    // A status of a later generation supersedes this item: its sites are not this item's concern.
    let status = status.filter(|s| s.generation <= dp.generation)?;
    let site = status.sites.iter().find(|s| s.unreachable)?;
    Some(StatusReason::Unreachable {
        domain,
        site: Some(site.site.clone()),
        last_heard_ms: known(site.last_heard_ms),
    })
}

/// The error of an inactive intent: its `Failed` reason, else all its reasons as text.
fn failure(status: &IntentStatus) -> String {
    status
        .reasons
        .iter()
        .find_map(|r| match r {
            StatusReason::Failed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| maestro_common::status::reasons_text(&status.reasons))
}

fn domain_view(
    action: Action,
    dp: &DomainProgress,
    status: Option<&IntentStatus>,
    health: Option<&DomainHealth>,
    now_ms: i64,
) -> DomainView {
    let domain = dp.domain.clone();
    if dp.delivery == Delivery::Rejected {
        return DomainView::Rejected(StatusReason::Rejected {
            domain,
            reason: dp.message.clone(),
        });
    }
    let at_gen = status.filter(|s| s.generation == dp.generation);
    if let Some(s) = at_gen.filter(|s| s.state == ServiceState::Inactive) {
        return DomainView::Failed(StatusReason::Failed {
            domain,
            error: failure(s),
        });
    }
    if let Some(reason) = unreachable_reason(dp, status, health, now_ms) {
        return DomainView::Unreachable(reason);
    }
    let delivered = dp.delivery == Delivery::Acknowledged
        || status.is_some_and(|s| s.generation >= dp.generation);
    if !delivered {
        return DomainView::Undelivered(StatusReason::AwaitingDelivery {
            domain,
            attempts: dp.delivery_attempts,
            last_error: dp.message.clone(),
        });
    }
    if status.is_some_and(|s| s.generation > dp.generation) {
        return DomainView::Done;
    }
    let goal = if action == Action::Delete {
        ServiceState::Terminated
    } else {
        ServiceState::Active
    };
    match at_gen {
        Some(s) if s.state == goal => DomainView::Done,
        Some(s) => DomainView::Working(StatusReason::Progressing {
            domain,
            ready: s.ready,
            total: s.total,
            generation: dp.generation,
        }),
        None => DomainView::Working(StatusReason::WaitingForGeneration {
            domain,
            generation: dp.generation,
        }),
    }
}

/// The strength of a view (lower decides), the item state it implies and its reason.
fn rank(v: &DomainView) -> Option<(u8, OrderState, &StatusReason)> {
    match v {
        DomainView::Failed(r) => Some((0, OrderState::Failed, r)),
        DomainView::Unreachable(r) => Some((1, OrderState::Pending, r)),
        DomainView::Undelivered(r) => Some((2, OrderState::Pending, r)),
        DomainView::Working(r) => Some((3, OrderState::InProgress, r)),
        DomainView::Done | DomainView::Rejected(_) => None,
    }
}

fn item_state(
    item: &OrderItem,
    statuses: &BTreeMap<String, IntentStatus>,
    domains: &BTreeMap<String, DomainHealth>,
    now_ms: i64,
) -> (OrderState, Option<StatusReason>) {
    // A domain the service leaves is told to remove it; the item does not wait for that.
    let views: Vec<DomainView> = item
        .domains
        .iter()
        .filter(|dp| !dp.leaving)
        .map(|dp| {
            domain_view(
                item.action,
                dp,
                statuses.get(&dp.intent_id),
                domains.get(&dp.domain),
                now_ms,
            )
        })
        .collect();
    // The first domain in the strongest view decides: failed, unreachable, undelivered, working.
    if let Some((_, state, r)) = views
        .iter()
        .filter_map(rank)
        .min_by_key(|(rank, _, _)| *rank)
    {
        return (state, Some(r.clone()));
    }
    // Every domain is done or refused the intent: refusals make the item partial (failed when
    // every domain refused), with the first refusal as the reason.
    let refused = views.iter().find_map(|v| match v {
        DomainView::Rejected(r) => Some(r.clone()),
        _ => None,
    });
    let any_done = views.iter().any(|v| matches!(v, DomainView::Done));
    match refused {
        None => (OrderState::Completed, None),
        Some(r) if any_done => (OrderState::Partial, Some(r)),
        Some(r) => (OrderState::Failed, Some(r)),
    }
}

fn order_state(items: &[OrderItem]) -> Option<OrderState> {
    let all = |s: OrderState| items.iter().all(|i| i.state == s);
    let any = |s: OrderState| items.iter().any(|i| i.state == s);
    if items.is_empty() || all(OrderState::Acknowledged) {
        None
    } else if all(OrderState::Completed) {
        Some(OrderState::Completed)
    } else if all(OrderState::Failed) {
        Some(OrderState::Failed)
    } else if items.iter().all(|i| i.state.is_final()) {
        Some(OrderState::Partial)
    } else if any(OrderState::InProgress) {
        Some(OrderState::InProgress)
    } else if any(OrderState::Pending) {
        Some(OrderState::Pending)
    } else {
        Some(OrderState::InProgress)
    }
}

#[cfg(test)]
#[path = "rollup_tests.rs"]
mod tests;
