//! Durable state of orders behind one small trait, [`OrderStore`]: orders, idempotency keys,
//! the service inventory, the delivery outbox, intent statuses and their indexes. A store only
//! persists: what to write is decided by [`crate::plan::plan`] and by the engine's roll-up.
//!
//! Guarantees every implementation keeps: a new order, its idempotency key, its inventory
//! changes and its outbox entries are written at once, and durable before `create` (or, after a
//! `write`, `commit`) returns; a plan made from a state that moved since (the key was taken, an
//! inventory entry changed) is refused, not merged; an outbox entry leaves only in the update
//! that records its outcome; every stored revision of an order is announced with the order
//! itself.

mod decoded;
mod sled_store;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub use memory::MemoryOrderStore;
pub use sled_store::SledOrderStore;

use crate::error::{OrderError, StoreError};
use crate::idempotency::KeyedOrder;
use crate::intent::{IntentStatus, OutboxEntry};
use crate::inventory::InventoryEntry;
use crate::model::{Order, OrderState};
use crate::plan::OrderPlan;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many changes a slow watcher may lag behind before it skips to the latest.
const CHANGE_BUFFER: usize = 1024;

/// An order changed (sent after the change is stored), with the stored order itself so that
/// watchers see every revision without reading it back.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChange {
    /// Order id.
    pub order_id: String,
    /// Its new revision.
    pub revision: u64,
    /// The order as stored at `revision`.
    pub order: Arc<Order>,
}

/// What [`OrderStore::create`] did with a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Persisted {
    /// Stored as planned (durably once committed).
    Created(Order),
    /// The idempotency key already names this order (a concurrent request stored it first);
    /// nothing was written.
    KeyTaken(KeyedOrder),
    /// An inventory entry the plan was made from changed since; nothing was written. Read the
    /// state again and plan again.
    Stale,
}

/// The order `persisted` created, if it did.
pub fn created_order(persisted: &Persisted) -> Option<&Order> {
    match persisted {
        Persisted::Created(order) => Some(order),
        Persisted::KeyTaken(_) | Persisted::Stale => None,
    }
}

/// Whether one more order fits in a page of [`OrderStore::list`] (e.g. by its encoded size).
pub type Fits<'a> = &'a mut dyn FnMut(&Order) -> bool;

/// A change to one stored order: computes the next order from the stored one.
pub type OrderUpdate<'a> = &'a (dyn Fn(&Order) -> Order + Send + Sync);

/// What [`OrderStore::update_sending`] stored: the order and the entries queued with it.
pub type Sent = (Order, Vec<OutboxEntry>);

/// A change to one stored order that also queues deliveries: the next order and the outbox
/// entries to store with it (each replacing the entry of its key).
pub type OrderSend<'a> = &'a (dyn Fn(&Order) -> (Order, Vec<OutboxEntry>) + Send + Sync);

/// A change of one order written by [`OrderStore::write_change`], not durable and not announced
/// yet: [`OrderStore::commit_change`] does both.
#[derive(Debug)]
pub struct WrittenChange {
    /// The order after the change (the stored one when the change left it as it was).
    pub order: Arc<Order>,
    /// The outbox entries stored with it.
    pub sends: Vec<OutboxEntry>,
    /// The order changed: its new revision is announced once durable.
    pub changed: bool,
    /// Outbox entries were removed: the removal is made durable too.
    pub removed: bool,
}

/// Orders, inventory, outbox and intent statuses.
pub trait OrderStore: Send + Sync + std::fmt::Debug {
    /// Order changes from now on.
    fn subscribe(&self) -> broadcast::Receiver<OrderChange>;
    /// The order `id`.
    fn get(&self, id: &str) -> Result<Option<Order>, StoreError>;
    /// The order created with idempotency key `key`, with the hash of the request that
    /// created it.
    fn find_by_key(&self, key: &str) -> Result<Option<KeyedOrder>, StoreError>;
    /// Inventory entries of `names` that exist.
    fn inventory(&self, names: &[&str]) -> Result<BTreeMap<String, InventoryEntry>, StoreError>;
    /// Every inventory entry, by service name (placement counts services per domain; fail-over
    /// looks for services on a domain that stays down).
    fn inventory_all(&self) -> Result<BTreeMap<String, InventoryEntry>, StoreError>;
    /// Stores `plan` in one transaction (order, key, inventory, outbox, indexes) and makes it
    /// durable, unless the state it was planned from moved: [`Self::write`], then
    /// [`Self::commit`].
    fn create<'a>(&'a self, plan: &'a OrderPlan) -> BoxFuture<'a, Result<Persisted, StoreError>> {
        Box::pin(async move {
            let persisted = self.write(plan)?;
            self.commit(created_order(&persisted)).await?;
            Ok(persisted)
        })
    }
    /// Writes `plan` in one transaction as [`Self::create`] does, not durable yet: what else is
    /// written before [`Self::commit`] (an audit entry in the same database) is made durable by
    /// the same flush. Nothing is announced until then.
    fn write(&self, plan: &OrderPlan) -> Result<Persisted, StoreError>;
    /// Makes everything written so far durable (also when the key was taken: the order it names
    /// may not be flushed yet), then announces `created`, the order a [`Self::write`] created.
    fn commit<'a>(&'a self, created: Option<&'a Order>) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Orders newest first, after `page_token`, optionally only in `state`, at most
    /// `page_size` of them and no further than `fits` accepts (it sees each order once, in
    /// page order; the first order of a page is taken whatever it says); and the token of the
    /// next page (empty at the end).
    fn list(
        &self,
        page_size: usize,
        page_token: &str,
        state: Option<OrderState>,
        fits: Fits<'_>,
    ) -> Result<(Vec<Order>, String), OrderError>;
    /// Replaces order `id` with `change(stored)` when that differs, and removes the outbox
    /// entries `delivered` in the same transaction — each only if the entry stored under its key
    /// is that one, so that the report of an older delivery never removes a newer one; durable
    /// before it returns. Returns the stored order, changed or not; `None` when there is no
    /// such order.
    fn update<'a>(
        &'a self,
        id: &'a str,
        delivered: &'a [OutboxEntry],
        change: OrderUpdate<'a>,
    ) -> BoxFuture<'a, Result<Option<Order>, StoreError>> {
        Box::pin(async move {
            let send = move |o: &Order| (change(o), Vec::new());
            Ok(self
                .update_sending(id, delivered, &send)
                .await?
                .map(|(o, _)| o))
        })
    }
    /// [`Self::update`] with deliveries: `change` also returns outbox entries, stored in the
    /// same transaction when the order changed (an unchanged order queues nothing). Returns the
    /// stored order and the entries stored with it. [`Self::write_change`], then
    /// [`Self::commit_change`].
    fn update_sending<'a>(
        &'a self,
        id: &'a str,
        delivered: &'a [OutboxEntry],
        change: OrderSend<'a>,
    ) -> BoxFuture<'a, Result<Option<Sent>, StoreError>> {
        Box::pin(async move {
            match self.write_change(id, delivered, change)? {
                Some(written) => Ok(Some(self.commit_change(written).await?)),
                None => Ok(None),
            }
        })
    }
    /// Writes [`Self::update_sending`]'s transaction, not durable yet: what else is written
    /// before [`Self::commit_change`] (an audit entry in the same database) is made durable by
    /// the same flush. Nothing is announced until then. `None` when there is no such order.
    fn write_change(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        change: OrderSend<'_>,
    ) -> Result<Option<WrittenChange>, StoreError>;
    /// Makes everything written so far durable when `written` wrote anything, then announces
    /// its order if it changed; returns the order and the entries stored with it.
    fn commit_change(&self, written: WrittenChange) -> BoxFuture<'_, Result<Sent, StoreError>>;
    /// Every outbox entry not yet acknowledged or rejected.
    fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Ids of orders that are not final.
    fn open_orders(&self) -> Result<Vec<String>, StoreError>;
    /// Ids of non-final orders whose items address `intent_id`.
    fn orders_for_intent(&self, intent_id: &str) -> Result<Vec<String>, StoreError>;
    /// Stores `status` unless a status of a higher generation is stored; true when it changed.
    fn record_status(&self, status: &IntentStatus) -> Result<bool, StoreError>;
    /// The latest statuses of every intent of `order`, by intent id.
    fn statuses_for(&self, order: &Order) -> Result<BTreeMap<String, IntentStatus>, StoreError>;
}

/// Announces stored revisions to watchers.
#[derive(Debug, Clone)]
struct Changes(broadcast::Sender<OrderChange>);

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(CHANGE_BUFFER).0)
    }
}

impl Changes {
    fn subscribe(&self) -> broadcast::Receiver<OrderChange> {
        self.0.subscribe()
    }

    fn announce(&self, order: &Order) {
        self.announce_shared(Arc::new(order.clone()));
    }

    fn announce_shared(&self, order: Arc<Order>) {
        // No receiver is fine: nobody watches.
        let _ = self.0.send(OrderChange {
            order_id: order.id.clone(),
            revision: order.revision,
            order,
        });
    }
}

/// Whether a stored status `old` keeps its place against `new`.
fn keeps_status(old: Option<&IntentStatus>, new: &IntentStatus) -> bool {
    old.is_some_and(|o| o.generation > new.generation || o == new)
}

/// The ListOrders page token as an index position.
fn parse_page_token(token: &str) -> Result<Option<u64>, OrderError> {
    if token.is_empty() {
        return Ok(None);
    }
    token.parse().map(Some).map_err(|_| {
        maestro_common::FieldError::new("page_token", "not a token returned by ListOrders").into()
    })
}
