//! Changes of one stored order after its creation: a roll-up ([`Engine::reroll`]), a rollout
//! command and a cancellation. Each is written in one transaction first, then committed: made
//! durable, announced to watchers, and its queued intents handed to delivery. A call that is
//! audited appends its entry in between, so that one flush of the database makes the change and
//! its entry durable together (a crash never keeps a cancellation without its entry).

use super::Engine;
use crate::error::OrderError;
use crate::intent::OutboxEntry;
use crate::model::{Order, OrderState};
use crate::rollup::roll_up;
use crate::store::WrittenChange;
use maestro_common::time::now_millis;
use std::sync::Arc;

/// A change of an order written and not yet durable: [`Engine::commit_change`] makes it durable,
/// announces it and delivers what it queued.
#[derive(Debug)]
#[must_use = "a written change is committed once its audit entry is appended"]
pub struct PendingChange {
    written: WrittenChange,
    /// The order was final before the change (its end is counted once).
    was_final: bool,
    /// A roll-up holds the roll-up lock until its change is committed, so that one computed
    /// from older statuses never lands after a newer one.
    _rolling: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Engine {
    /// Applies `mutate` to order `id`, steps its rollouts and rolls it up with the latest
    /// statuses and liveness (a roll-up that changes only times waits, see
    /// [`crate::times_alone`]); the outbox entries `delivered` are removed in the same
    /// transaction. Intents the rollouts send are stored with the order, then delivered.
    pub async fn reroll(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        mutate: impl Fn(&mut Order) + Send + Sync,
    ) -> Result<Option<Order>, OrderError> {
        match self.write_reroll(id, delivered, mutate).await? {
            Some(pending) => self.finish(pending).await.map(Some),
            None => Ok(None),
        }
    }

    /// [`Self::reroll`] up to the write; `None` when there is no such order.
    pub(super) async fn write_reroll(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        mutate: impl Fn(&mut Order) + Send + Sync,
    ) -> Result<Option<PendingChange>, OrderError> {
        let rolling = Arc::clone(&self.inner.rolling).lock_owned().await;
        let store = self.store();
        let Some(current) = store.get(id)? else {
            let written = store.write_change(id, delivered, &|o| (o.clone(), Vec::new()))?;
            return Ok(written.map(|written| PendingChange {
                written,
                was_final: true,
                _rolling: Some(rolling),
            }));
        };
        let statuses = store.statuses_for(&current)?;
        let health = self.registry().health_map()?;
        let now = now_millis();
        let change = |old: &Order| {
            let mut changed = old.clone();
            mutate(&mut changed);
            let sends = crate::rollout::drive_order(&mut changed, &statuses, &health, now);
            let mut next = roll_up(&changed, &statuses, &health, now);
            if sends.is_empty() && crate::times_alone::holds_back(old, &next, now) {
                return (old.clone(), sends);
            }
            if next != *old {
                if next.revision == old.revision {
                    next.revision = old.revision + 1;
                }
                next.rolled_at_ms = now;
            }
            (next, sends)
        };
        Ok(store
            .write_change(id, delivered, &change)?
            .map(|written| PendingChange {
                written,
                was_final: current.state.is_final(),
                _rolling: Some(rolling),
            }))
    }

    /// Makes `pending` durable, announces it and delivers the intents it queued; returns the
    /// order. Runs to its end even if the caller stops waiting ([`Self::to_the_end`]).
    pub async fn commit_change(&self, pending: PendingChange) -> Result<Order, OrderError> {
        let engine = self.clone();
        self.to_the_end(async move { engine.finish(pending).await })
            .await
    }

    /// [`Self::commit_change`] in the caller's task.
    pub(super) async fn finish(&self, pending: PendingChange) -> Result<Order, OrderError> {
        let PendingChange {
            written,
            was_final,
            _rolling,
        } = pending;
        let (order, sends) = self.store().commit_change(written).await?;
        self.noted(&order);
        for entry in sends {
            self.inner.deliveries.deliver(entry).await;
        }
        crate::metrics::order_state(&order);
        if !was_final && order.state.is_final() {
            crate::metrics::order_ended(&order);
        }
        Ok(order)
    }

    /// Cancels order `id` unless it is final. Intents already delivered or queued stay with
    /// the domains (the inventory already holds the new generation): cancel stops tracking.
    /// Runs to its end even if the caller stops waiting ([`Self::to_the_end`]).
    pub async fn cancel_order(&self, id: &str, reason: &str) -> Result<Order, OrderError> {
        let pending = self.write_cancel(id, reason)?;
        self.commit_change(pending).await
    }

    /// [`Self::cancel_order`] up to the write; refused when the order is final.
    pub fn write_cancel(&self, id: &str, reason: &str) -> Result<PendingChange, OrderError> {
        let order = self
            .store()
            .get(id)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?;
        if order.state.is_final() {
            return Err(OrderError::FailedPrecondition(format!(
                "order {id} is {} and cannot be cancelled",
                order.state.name()
            )));
        }
        let now = now_millis();
        let text = if reason.is_empty() {
            "cancelled".to_string()
        } else {
            format!("cancelled: {reason}")
        };
        let cancel = |o: &Order| {
            let mut o = o.clone();
            if !o.state.is_final() {
                o.state = OrderState::Cancelled;
                for item in o.items.iter_mut().filter(|i| !i.state.is_final()) {
                    item.state = OrderState::Cancelled;
                }
                o.note(now, text.clone());
                o.revision += 1;
            }
            (o, Vec::new())
        };
        let written = self
            .store()
            .write_change(id, &[], &cancel)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?;
        if !written.changed {
            // It became final between the read and the write.
            return Err(OrderError::FailedPrecondition(format!(
                "order {id} became {}",
                written.order.state.name()
            )));
        }
        Ok(PendingChange {
            written,
            was_final: false,
            _rolling: None,
        })
    }
}
