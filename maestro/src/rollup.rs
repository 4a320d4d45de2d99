//! The roll-up: a pure fold of intent statuses, delivery states and domain liveness into an
//! order's items and state. No I/O; unit-tested on its own.
//!
//! Rules: a domain's status counts only at the item's generation (older = still in progress);
//! an item is completed when every domain is active (terminated for a delete) at that
//! generation, failed when a domain is inactive or rejected the intent, pending (with reason and
//! age) while a domain or one of its target sites is unreachable or the domain has not
//! acknowledged, else in progress. Silence never fails or completes an item: an unreachable
//! domain or site holds it pending on its last known state, and when it is heard again the item
//! converges from the real status. An order is
//! completed when every item is, failed when every item failed, partial when all are final and
//! some failed; final items and orders never change again. Every state change appends a note and
//! every change bumps `revision`.

use crate::intent::IntentStatus;
use crate::model::{Action, Delivery, DomainProgress, Order, OrderItem, OrderState, ServiceState};
use crate::registry::DomainHealth;
use std::collections::BTreeMap;

/// How one domain stands for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DomainView {
    Failed(String),
    Unreachable(String),
    Undelivered(String),
    Done,
    Working(String),
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
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            notes.push(format!("item {} {}{why}", item.id, state.name()));
        }
        item.state = state;
        item.reason = reason;
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
        dp.message = st.message.clone();
        dp.last_heard_ms = st.updated_at_ms;
    } else if st.generation > dp.generation {
        dp.message = format!("superseded by generation {}", st.generation);
    }
}

/// Seconds from `then_ms` to `now_ms` (0 when in the future).
fn age_s(now_ms: i64, then_ms: i64) -> i64 {
    (now_ms - then_ms).max(0) / 1000
}

/// Why `dp`'s domain or one of its target sites counts as unreachable, if it does.
fn unreachable_reason(
    dp: &DomainProgress,
    status: Option<&IntentStatus>,
    health: Option<&DomainHealth>,
    now_ms: i64,
) -> Option<String> {
    let d = &dp.domain;
    match health {
        None => return Some(format!("domain {d} is not registered")),
        Some(h) if h.unreachable(now_ms) => {
            let age = age_s(now_ms, h.last_heard_ms(now_ms));
            return Some(format!("domain {d} unreachable (last heard {age} s ago)"));
        }
        Some(_) => {}
    }
    // A status of a later generation supersedes this item: its sites are not this item's concern.
    let status = status.filter(|s| s.generation <= dp.generation)?;
    let site = status.sites.iter().find(|s| s.unreachable)?;
    let heard = if site.last_heard_ms > 0 {
        format!("last heard {} s ago", age_s(now_ms, site.last_heard_ms))
    } else {
        "never heard".to_string()
    };
    Some(format!("site {} in {d} unreachable ({heard})", site.site))
}

fn domain_view(
    action: Action,
    dp: &DomainProgress,
    status: Option<&IntentStatus>,
    health: Option<&DomainHealth>,
    now_ms: i64,
) -> DomainView {
    let d = &dp.domain;
    if dp.delivery == Delivery::Rejected {
        return DomainView::Failed(format!("domain {d} rejected the intent: {}", dp.message));
    }
    let at_gen = status.filter(|s| s.generation == dp.generation);
    if let Some(s) = at_gen.filter(|s| s.state == ServiceState::Inactive) {
        return DomainView::Failed(format!("domain {d}: service inactive: {}", s.message));
    }
    if let Some(reason) = unreachable_reason(dp, status, health, now_ms) {
        return DomainView::Unreachable(reason);
    }
    let delivered = dp.delivery == Delivery::Acknowledged
        || status.is_some_and(|s| s.generation >= dp.generation);
    if !delivered {
        let last = if dp.message.is_empty() {
            String::new()
        } else {
            format!(": {}", dp.message)
        };
        return DomainView::Undelivered(format!(
            "awaiting delivery to domain {d} ({} attempts{last})",
            dp.delivery_attempts
        ));
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
        Some(s) => DomainView::Working(format!(
            "domain {d}: {}/{} ready at generation {}",
            s.ready, s.total, dp.generation
        )),
        None => DomainView::Working(format!(
            "domain {d}: waiting for generation {}",
            dp.generation
        )),
    }
}

fn item_state(
    item: &OrderItem,
    statuses: &BTreeMap<String, IntentStatus>,
    domains: &BTreeMap<String, DomainHealth>,
    now_ms: i64,
) -> (OrderState, String) {
    let views: Vec<DomainView> = item
        .domains
        .iter()
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
    let first = |f: fn(&DomainView) -> Option<&String>| views.iter().filter_map(f).next().cloned();
    if let Some(r) = first(|v| {
        if let DomainView::Failed(r) = v {
            Some(r)
        } else {
            None
        }
    }) {
        return (OrderState::Failed, r);
    }
    if let Some(r) = first(|v| {
        if let DomainView::Unreachable(r) = v {
            Some(r)
        } else {
            None
        }
    }) {
        return (OrderState::Pending, r);
    }
    if let Some(r) = first(|v| {
        if let DomainView::Undelivered(r) = v {
            Some(r)
        } else {
            None
        }
    }) {
        return (OrderState::Pending, r);
    }
    if let Some(r) = first(|v| {
        if let DomainView::Working(r) = v {
            Some(r)
        } else {
            None
        }
    }) {
        return (OrderState::InProgress, r);
    }
    (OrderState::Completed, String::new())
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
