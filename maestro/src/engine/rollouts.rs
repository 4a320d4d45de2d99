//! The engine's side of rollouts: operator commands, and rollbacks of whole orders. A command
//! is stored with the item's rollout and applied by the next step, in the same update that
//! stores it, so a pause, a resume or an abort is durable before it is answered and survives a
//! restart. A rollback is a new order, built from what each item replaced.

use super::{Engine, PendingChange};
use crate::error::OrderError;
use crate::model::{Action, Before, Order, Orderer, Placement};
use crate::request::{NewItem, NewOrder};
use crate::rollout::Command;
use maestro_common::ResourceName;

impl Engine {
    /// Applies `command` to the rollout of `item` of order `id` (every item with a rollout
    /// when `item` is `None`) and returns the order after the step it caused. Runs to its end
    /// even if the caller stops waiting, as CreateOrder's acknowledgement.
    pub async fn control_rollout(
        &self,
        id: &str,
        item: Option<&str>,
        command: Command,
    ) -> Result<Order, OrderError> {
        let (engine, id, item) = (self.clone(), id.to_string(), item.map(str::to_string));
        self.to_the_end(async move {
            let pending = engine.write_control(&id, item.as_deref(), command).await?;
            engine.finish(pending).await
        })
        .await
    }

    /// [`Self::control_rollout`] up to the write: the command is stored with the step it
    /// caused, not durable yet; [`Self::commit_change`] does the rest.
    pub async fn write_control(
        &self,
        id: &str,
        item: Option<&str>,
        command: Command,
    ) -> Result<PendingChange, OrderError> {
        let order = self
            .store()
            .get(id)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?;
        let targets = targets(&order, item)?;
        let push = |o: &mut Order| {
            for i in o.items.iter_mut().filter(|i| targets.contains(&i.id)) {
                if let Some(r) = i.rollout.as_mut().filter(|r| !r.machine.phase.is_final()) {
                    r.commands.push(command);
                }
            }
        };
        self.write_reroll(id, &[], push)
            .await?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))
    }
}

/// The items of `order` a command addresses: `item`, or every item with a rollout. Refused when
/// none has a rollout that can still take a command.
fn targets(order: &Order, item: Option<&str>) -> Result<Vec<String>, OrderError> {
    let id = &order.id;
    if let Some(item) = item {
        let Some(i) = order.items.iter().find(|i| i.id == item) else {
            return Err(OrderError::NotFound(format!("item {item} of order {id}")));
        };
        let Some(r) = &i.rollout else {
            return Err(OrderError::FailedPrecondition(format!(
                "item {item} of order {id} has no rollout"
            )));
        };
        if r.machine.phase.is_final() || i.state.is_final() {
            return Err(OrderError::FailedPrecondition(format!(
                "the rollout of item {item} of order {id} is over ({})",
                crate::rollout::view::phase_name(&r.machine.phase)
            )));
        }
        return Ok(vec![item.to_string()]);
    }
    let open: Vec<String> = order
        .items
        .iter()
        .filter(|i| !i.state.is_final())
        .filter(|i| {
            i.rollout
                .as_ref()
                .is_some_and(|r| !r.machine.phase.is_final())
        })
        .map(|i| i.id.clone())
        .collect();
    if open.is_empty() {
        let any = order.items.iter().any(|i| i.rollout.is_some());
        let why = if any {
            "its rollouts are over"
        } else {
            "it has no rollout"
        };
        return Err(OrderError::FailedPrecondition(format!("order {id}: {why}")));
    }
    Ok(open)
}

impl Engine {
    /// The order that takes back what order `id` changed, under idempotency key `key`: per
    /// item, the service as it was before (spec, characteristics, blueprints and placement),
    /// or deleted where the item added it. Refused while one of its rollouts runs (an abort
    /// takes those back), when a later order changed one of its services again (roll that one
    /// back first), or when what an item replaced is not known.
    pub fn rollback_request(&self, id: &str, key: &str) -> Result<NewOrder, OrderError> {
        let order = self
            .store()
            .get(id)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?;
        let names: Vec<&str> = order
            .items
            .iter()
            .map(|i| i.service.name.as_str())
            .collect();
        let inventory = self.store().inventory(&names)?;
        let mut items = Vec::with_capacity(order.items.len());
        for item in &order.items {
            let open = item
                .rollout
                .as_ref()
                .is_some_and(|r| !r.machine.phase.is_final() && !item.state.is_final());
            if open {
                return Err(OrderError::FailedPrecondition(format!(
                    "item {} of order {id} is rolling out: `maestroctl rollout abort {id}` \
                     returns the sites it changed",
                    item.id
                )));
            }
            let name = item.service.name.as_str();
            let current = inventory.get(name);
            if let Some(c) = current.filter(|c| c.order_id != order.id) {
                return Err(OrderError::FailedPrecondition(format!(
                    "service '{name}' was changed again by order {} after order {id}: roll that \
                     one back first",
                    c.order_id
                )));
            }
            let unknown = || {
                OrderError::FailedPrecondition(format!(
                    "what item {} of order {id} replaced is not known (it was ordered before \
                     maestro kept it): order the earlier spec of '{name}' instead",
                    item.id
                ))
            };
            let (action, pinned) = match &item.before {
                Before::Unknown => return Err(unknown()),
                Before::Nothing => (Action::Delete, None),
                Before::Was(was) if was.templates.is_empty() => return Err(unknown()),
                Before::Was(was) if current.is_some_and(|c| c.deleted) => {
                    (Action::Add, Some(was.clone()))
                }
                Before::Was(was) => (Action::Modify, Some(was.clone())),
            };
            items.push(NewItem {
                id: ResourceName::parse("id", &item.id)?,
                action,
                service_name: ResourceName::parse("service.name", name)?,
                spec_id: pinned
                    .as_ref()
                    .map(|p| p.spec_id.clone())
                    .unwrap_or_default(),
                characteristics: Vec::new(),
                placement: Placement::default(),
                rollout: None,
                pinned,
            });
        }
        Ok(NewOrder {
            idempotency_key: key.to_string(),
            external_id: String::new(),
            description: format!("rollback of order {id}"),
            category: "rollback".into(),
            priority: order.priority,
            items,
            ordered_by: Orderer::default(),
            traceparent: None,
        })
    }
}
