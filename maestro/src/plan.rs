//! The pure decision behind CreateOrder: from a validated request and the current state (the
//! order its idempotency key already names, the inventory of the services it names, the
//! registered domains and the catalog) to what must be stored — the order, the inventory
//! entries it moves, and one outbox entry per (item, domain) — or to a rejection. No I/O: the
//! store persists a [`Decision`] as it is, and refuses it when the state it was made from moved
//! (the caller then reads again and plans again).

use crate::error::OrderError;
use crate::intent::{IntentPayload, OutboxEntry};
use crate::inventory::InventoryEntry;
use crate::model::{Action, Delivery, DomainProgress, Order, OrderItem, OrderState, ServiceState};
use crate::registry::DomainRecord;
use crate::request::NewOrder;
use crate::resolve::{Context, ResolvedItem, resolve_item};
use crate::rollout::{ItemRollout, Phase, start};
use maestro_common::ids;
use std::collections::BTreeMap;

/// What `plan` reads: the state of the world when the request arrived.
#[derive(Debug, Clone, Copy)]
pub struct CurrentState<'a> {
    /// The order the request's idempotency key already names.
    pub existing: Option<&'a Order>,
    /// Inventory entries of the services the request names (absent = never ordered).
    pub inventory: &'a BTreeMap<String, InventoryEntry>,
    /// Registered domains.
    pub domains: &'a [DomainRecord],
    /// The service catalog and who offers what.
    pub catalog: &'a crate::offers::Offers,
    /// Which domains are down and how loaded each is (placements with a count use it).
    pub fit: &'a crate::placement::Fit,
    /// The rollouts that produced the current generation of the services the request names,
    /// by service name (absent: that generation was not rolled out).
    pub rollouts: &'a BTreeMap<String, LastRollout>,
}

/// The rollout that produced a service's current generation.
#[derive(Debug, Clone, PartialEq)]
pub struct LastRollout {
    /// The order it belongs to.
    pub order_id: String,
    /// The rollout.
    pub rollout: ItemRollout,
    /// Whether its item is still open (neither final nor cancelled).
    pub open: bool,
}

/// The values a new order gets that are not derived from its inputs (chosen by the caller, so
/// that `plan` stays a function).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The new order's id.
    pub order_id: String,
    /// Its W3C traceparent.
    pub traceparent: String,
    /// Now, ms since the epoch.
    pub now_ms: i64,
}

impl Fresh {
    /// A new order id and traceparent at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Self {
            order_id: ids::new_id(),
            traceparent: maestro_common::telemetry::context::fresh(),
            now_ms,
        }
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The idempotency key already names this order: answer with it, store nothing.
    Existing(Order),
    /// Store a new order.
    Create(OrderPlan),
}

/// Everything a new order writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    /// The order, acknowledged.
    pub order: Order,
    /// The inventory entries it replaces or adds, one per item.
    pub inventory: Vec<InventoryEntry>,
    /// The generation each named service had when planned (`None` = not in the inventory):
    /// the store refuses the plan when one of them moved since.
    pub expected: BTreeMap<String, Option<u64>>,
    /// One delivery per (item, domain).
    pub outbox: Vec<OutboxEntry>,
    /// [`crate::idempotency::request_hash`] of the request, kept with its idempotency key.
    pub request_hash: String,
}

/// Decides what `new` does to `state`.
pub fn plan(
    new: &NewOrder,
    state: CurrentState<'_>,
    fresh: &Fresh,
) -> Result<Decision, OrderError> {
    if let Some(order) = state.existing {
        return Ok(Decision::Existing(order.clone()));
    }
    let ctx = Context {
        catalog: state.catalog,
        domains: state.domains,
        inventory: state.inventory,
        fit: state.fit,
    };
    let items = new
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| resolve_item(i, item, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    let mut order = Order {
        id: fresh.order_id.clone(),
        idempotency_key: new.idempotency_key.clone(),
        external_id: new.external_id.clone(),
        description: new.description.clone(),
        category: new.category.clone(),
        priority: new.priority,
        state: OrderState::Acknowledged,
        order_date_ms: fresh.now_ms,
        completion_date_ms: None,
        notes: Vec::new(),
        items: Vec::with_capacity(items.len()),
        revision: 1,
        traceparent: fresh.traceparent.clone(),
        ordered_by: new.ordered_by.clone(),
        rolled_at_ms: 0,
    };
    order.note(fresh.now_ms, "acknowledged");
    let mut plan = OrderPlan {
        order,
        inventory: Vec::with_capacity(items.len()),
        expected: BTreeMap::new(),
        outbox: Vec::new(),
        request_hash: crate::idempotency::request_hash(new),
    };
    for (i, (item, asked)) in items.iter().zip(&new.items).enumerate() {
        let name = item.service.name.as_str();
        plan.expected.insert(
            name.to_string(),
            state.inventory.get(name).map(|e| e.generation),
        );
        let mut entry = inventory_entry(item, &fresh.order_id);
        entry.traceparent.clone_from(&fresh.traceparent);
        plan.inventory.push(entry);
        let outbox = outbox_entries(item, &plan.order);
        let leaving = leaving_entries(item, state.inventory.get(name), &plan.order);
        let mut order_item = order_item(item, &outbox);
        for e in &leaving {
            order_item.domains.push(DomainProgress {
                leaving: true,
                ..progress(e)
            });
        }
        order_item.before = match state.inventory.get(name) {
            Some(e) if !e.deleted => crate::model::Before::Was(Box::new(e.clone())),
            _ => crate::model::Before::Nothing,
        };
        let outbox_now = match &asked.rollout {
            None => outbox,
            Some(strategy) => {
                let previous =
                    previous_of(item, state).map_err(|e| e.within(&format!("order.items[{i}]")))?;
                let started = start::start(
                    strategy,
                    outbox,
                    previous,
                    item.generation,
                    state.domains,
                    fresh.now_ms,
                )
                .map_err(|e| e.within(&format!("order.items[{i}]")))?;
                for a in &started.actions {
                    if let Some(n) = crate::rollout::drive::note(a, &started.rollout) {
                        plan.order
                            .note(fresh.now_ms, format!("item {}: {n}", item.id));
                    }
                }
                order_item.rollout = Some(started.rollout);
                started.entries
            }
        };
        plan.order.items.push(order_item);
        plan.outbox.extend(outbox_now);
        plan.outbox.extend(leaving);
    }
    Ok(Decision::Create(plan))
}

/// What the sites of `item`'s service return to if its rollout is aborted: what they run now.
/// Refused while another rollout of the service is under way, or when the placement changes
/// (a rollout moves the sites that run the service, no others).
fn previous_of(
    item: &ResolvedItem,
    state: CurrentState<'_>,
) -> Result<Option<crate::intent::PreviousSpec>, maestro_common::FieldError> {
    let name = item.service.name.as_str();
    let current = state.inventory.get(name);
    if let Some(c) = current.filter(|c| !c.deleted && c.targets != item.targets) {
        return Err(maestro_common::FieldError::new(
            "rollout_json",
            format!(
                "the placement of '{name}' changes (generation {} runs elsewhere); a rollout \
                 moves the sites that run the service: order the placement change without one",
                c.generation
            ),
        ));
    }
    match state.rollouts.get(name) {
        Some(last) if last.open && !last.rollout.machine.phase.is_final() => {
            Err(maestro_common::FieldError::new(
                "rollout_json",
                format!(
                    "'{name}' is being rolled out by order {}; abort that rollout or wait for it",
                    last.order_id
                ),
            ))
        }
        // That rollout was taken back: its sites run what they ran before it.
        Some(last) if matches!(last.rollout.machine.phase, Phase::RolledBack { .. }) => {
            Ok(last.rollout.previous.clone())
        }
        _ => start::previous_spec(current),
    }
}

fn inventory_entry(item: &ResolvedItem, order_id: &str) -> InventoryEntry {
    InventoryEntry {
        name: item.service.name.clone(),
        generation: item.generation,
        deleted: item.action == Action::Delete,
        spec_id: item.service.spec_id.clone(),
        spec_version: item.service.spec_version.clone(),
        characteristics: item.service.characteristics.clone(),
        placement: item.placement.clone(),
        targets: item.targets.clone(),
        order_id: order_id.to_string(),
        templates: item.templates.clone(),
        traceparent: String::new(),
    }
}

fn outbox_entries(item: &ResolvedItem, order: &Order) -> Vec<OutboxEntry> {
    let order_id = order.id.as_str();
    let name = item.service.name.as_str();
    let characteristics_json =
        serde_json::Value::Object(item.service.characteristics_object()).to_string();
    item.targets
        .iter()
        .map(|t| OutboxEntry {
            order_id: order_id.to_string(),
            item_id: item.id.clone(),
            domain: t.domain.clone(),
            intent: IntentPayload {
                id: ids::intent_id(name, &t.domain),
                generation: item.generation,
                service_name: name.to_string(),
                order_id: order_id.to_string(),
                order_item_id: item.id.clone(),
                spec_id: item.service.spec_id.clone(),
                spec_version: item.service.spec_version.clone(),
                sites: t.sites.clone(),
                characteristics_json: characteristics_json.clone(),
                blueprint_templates_json: item.templates.clone(),
                deleted: item.action == Action::Delete,
                traceparent: order.traceparent.clone(),
                organisation: order.ordered_by.organisation.clone(),
                rollout: None,
            },
        })
        .collect()
}

/// Deletions of the service, at the item's generation, for the domains it ran in and leaves
/// (its placement moved, or it fails over): queued like any intent, so a domain that is down
/// removes it when it is back and nothing runs twice.
fn leaving_entries(
    item: &ResolvedItem,
    current: Option<&InventoryEntry>,
    order: &Order,
) -> Vec<OutboxEntry> {
    let Some(current) = current.filter(|c| !c.deleted) else {
        return Vec::new();
    };
    if item.action == Action::Delete {
        return Vec::new();
    }
    let name = item.service.name.as_str();
    current
        .targets
        .iter()
        .filter(|t| !item.targets.iter().any(|n| n.domain == t.domain))
        .map(|t| OutboxEntry {
            order_id: order.id.clone(),
            item_id: item.id.clone(),
            domain: t.domain.clone(),
            intent: IntentPayload {
                id: ids::intent_id(name, &t.domain),
                generation: item.generation,
                service_name: name.to_string(),
                order_id: order.id.clone(),
                order_item_id: item.id.clone(),
                spec_id: current.spec_id.clone(),
                spec_version: current.spec_version.clone(),
                sites: t.sites.clone(),
                characteristics_json: "{}".into(),
                blueprint_templates_json: Vec::new(),
                deleted: true,
                traceparent: order.traceparent.clone(),
                organisation: order.ordered_by.organisation.clone(),
                rollout: None,
            },
        })
        .collect()
}

/// The progress of a new delivery.
fn progress(e: &OutboxEntry) -> DomainProgress {
    DomainProgress {
        domain: e.domain.clone(),
        intent_id: e.intent.id.clone(),
        generation: e.intent.generation,
        sites: e.intent.sites.clone(),
        delivery: Delivery::Pending,
        delivery_attempts: 0,
        service_state: ServiceState::Unspecified,
        observed_generation: 0,
        ready: 0,
        total: 0,
        site_progress: Vec::new(),
        message: String::new(),
        reasons: Vec::new(),
        last_heard_ms: 0,
        unreachable: false,
        withheld: Vec::new(),
        leaving: false,
    }
}

fn order_item(item: &ResolvedItem, outbox: &[OutboxEntry]) -> OrderItem {
    let domains = outbox.iter().map(progress).collect();
    OrderItem {
        id: item.id.clone(),
        action: item.action,
        state: OrderState::Acknowledged,
        service: item.service.clone(),
        placement: item.placement.clone(),
        domains,
        status_reason: None,
        rollout: None,
        before: crate::model::Before::Unknown,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
