//! [`OrderStore`] in memory, for logic tests: the same contract as the sled store (the tests in
//! `tests.rs` run against both), nothing durable.

use super::{
    Changes, Fits, OrderChange, OrderSend, OrderStore, Persisted, Sent, WrittenChange,
    keeps_status, parse_page_token,
};
use crate::error::{OrderError, StoreError};
use crate::idempotency::{KeyRecord, KeyedOrder};
use crate::intent::{IntentStatus, OutboxEntry};
use crate::inventory::InventoryEntry;
use crate::model::{Order, OrderState};
use crate::plan::OrderPlan;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::broadcast;

#[derive(Debug, Default)]
struct State {
    orders: BTreeMap<String, Order>,
    keys: BTreeMap<String, KeyRecord>,
    /// Position (newest first, like the sled index) -> order id.
    index: BTreeMap<u64, String>,
    created: u64,
    inventory: BTreeMap<String, InventoryEntry>,
    outbox: BTreeMap<String, OutboxEntry>,
    open: BTreeSet<String>,
    by_intent: BTreeSet<(String, String)>,
    statuses: BTreeMap<String, IntentStatus>,
}

/// The order `record` names, with its request hash.
fn keyed(s: &State, record: &KeyRecord) -> Option<KeyedOrder> {
    s.orders.get(record.order_id()).map(|order| KeyedOrder {
        order: order.clone(),
        request_hash: record.request_hash().map(str::to_string),
    })
}

/// Orders in memory.
#[derive(Debug, Default)]
pub struct MemoryOrderStore {
    state: Mutex<State>,
    changes: Changes,
}

impl MemoryOrderStore {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl OrderStore for MemoryOrderStore {
    fn subscribe(&self) -> broadcast::Receiver<OrderChange> {
        self.changes.subscribe()
    }

    fn get(&self, id: &str) -> Result<Option<Order>, StoreError> {
        Ok(self.state().orders.get(id).cloned())
    }

    fn find_by_key(&self, key: &str) -> Result<Option<KeyedOrder>, StoreError> {
        let s = self.state();
        Ok(s.keys.get(key).and_then(|record| keyed(&s, record)))
    }

    fn inventory(&self, names: &[&str]) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        let s = self.state();
        Ok(names
            .iter()
            .filter_map(|n| s.inventory.get(*n).map(|e| (n.to_string(), e.clone())))
            .collect())
    }

    fn inventory_all(&self) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        Ok(self.state().inventory.clone())
    }

    fn write(&self, plan: &OrderPlan) -> Result<Persisted, StoreError> {
        let order = &plan.order;
        let mut s = self.state();
        if let Some(taken) = s
            .keys
            .get(&order.idempotency_key)
            .and_then(|record| keyed(&s, record))
        {
            return Ok(Persisted::KeyTaken(taken));
        }
        let moved = plan
            .expected
            .iter()
            .any(|(name, expected)| s.inventory.get(name).map(|e| e.generation) != *expected);
        if moved {
            return Ok(Persisted::Stale);
        }
        for entry in &plan.inventory {
            s.inventory.insert(entry.name.clone(), entry.clone());
        }
        for entry in &plan.outbox {
            s.outbox.insert(entry.key(), entry.clone());
            s.by_intent
                .insert((entry.intent.id.clone(), order.id.clone()));
        }
        s.orders.insert(order.id.clone(), order.clone());
        let record = KeyRecord::Hashed {
            order_id: order.id.clone(),
            request_hash: plan.request_hash.clone(),
        };
        s.keys.insert(order.idempotency_key.clone(), record);
        s.created += 1;
        let position = u64::MAX - s.created;
        s.index.insert(position, order.id.clone());
        s.open.insert(order.id.clone());
        Ok(Persisted::Created(order.clone()))
    }

    fn commit<'a>(&'a self, created: Option<&'a Order>) -> BoxFuture<'a, Result<(), StoreError>> {
        if let Some(order) = created {
            self.changes.announce(order);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn list(
        &self,
        page_size: usize,
        page_token: &str,
        state: Option<OrderState>,
        fits: Fits<'_>,
    ) -> Result<(Vec<Order>, String), OrderError> {
        let start = parse_page_token(page_token)?.map_or(0, |p| p.saturating_add(1));
        let s = self.state();
        let mut orders = Vec::new();
        let mut next = String::new();
        let mut more = false;
        for (position, id) in s.index.range(start..) {
            let order = &s.orders[id];
            if state.is_some_and(|st| st != order.state) {
                continue;
            }
            if orders.len() == page_size || !(fits(order) || orders.is_empty()) {
                more = true;
                break;
            }
            orders.push(order.clone());
            next = position.to_string();
        }
        if !more {
            next.clear();
        }
        Ok((orders, next))
    }

    fn write_change(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        change: OrderSend<'_>,
    ) -> Result<Option<WrittenChange>, StoreError> {
        let mut s = self.state();
        let mut removed = false;
        for entry in delivered {
            let key = entry.key();
            if s.outbox.get(&key) == Some(entry) {
                s.outbox.remove(&key);
                removed = true;
            }
        }
        let Some(old) = s.orders.get(id) else {
            return Ok(None);
        };
        let (new, sends) = change(old);
        if new == *old {
            return Ok(Some(WrittenChange {
                order: Arc::new(new),
                sends: Vec::new(),
                changed: false,
                removed,
            }));
        }
        s.orders.insert(id.to_string(), new.clone());
        for entry in &sends {
            s.outbox.insert(entry.key(), entry.clone());
        }
        if new.state.is_final() {
            s.open.remove(id);
            for (_, intent) in new.intent_ids() {
                s.by_intent.remove(&(intent.to_string(), id.to_string()));
            }
        }
        Ok(Some(WrittenChange {
            order: Arc::new(new),
            sends,
            changed: true,
            removed,
        }))
    }

    fn commit_change(&self, written: WrittenChange) -> BoxFuture<'_, Result<Sent, StoreError>> {
        if written.changed {
            self.changes.announce_shared(Arc::clone(&written.order));
        }
        Box::pin(std::future::ready(Ok((
            Arc::unwrap_or_clone(written.order),
            written.sends,
        ))))
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.state().outbox.values().cloned().collect())
    }

    fn open_orders(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.state().open.iter().cloned().collect())
    }

    fn orders_for_intent(&self, intent_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .state()
            .by_intent
            .iter()
            .filter(|(i, _)| i == intent_id)
            .map(|(_, o)| o.clone())
            .collect())
    }

    fn record_status(&self, status: &IntentStatus) -> Result<bool, StoreError> {
        let mut s = self.state();
        if keeps_status(s.statuses.get(&status.intent_id), status) {
            return Ok(false);
        }
        s.statuses.insert(status.intent_id.clone(), status.clone());
        Ok(true)
    }

    fn statuses_for(&self, order: &Order) -> Result<BTreeMap<String, IntentStatus>, StoreError> {
        let s = self.state();
        Ok(order
            .intent_ids()
            .filter_map(|(_, i)| s.statuses.get(i).map(|st| (i.to_string(), st.clone())))
            .collect())
    }
}
