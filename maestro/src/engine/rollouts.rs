//! The engine's side of rollouts: operator commands. A command is stored with the item's
//! rollout and applied by the next step, in the same update that stores it, so a pause, a
//! resume or an abort is durable before it is answered and survives a restart.

use super::Engine;
use crate::error::OrderError;
use crate::model::Order;
use crate::rollout::Command;

impl Engine {
    /// Applies `command` to the rollout of `item` of order `id` (every item with a rollout
    /// when `item` is `None`) and returns the order after the step it caused.
    pub async fn control_rollout(
        &self,
        id: &str,
        item: Option<&str>,
        command: Command,
    ) -> Result<Order, OrderError> {
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
        self.reroll(id, None, push)
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
