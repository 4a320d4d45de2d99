//! The engine: what the gRPC handlers and the background tasks call. Holds the catalog, the
//! registry and the order store, and re-runs the roll-up whenever a delivery, a status or a
//! liveness change touches an order.

use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::OrderError;
use crate::model::{Order, OrderState};
use crate::registry::DomainRegistry;
use crate::request::NewOrder;
use crate::resolve::{Context, resolve_item};
use crate::rollup::roll_up;
use crate::store::{Created, OrderStore};
use maestro_common::time::now_millis;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared state of a running maestro.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    catalog: Catalog,
    registry: DomainRegistry,
    store: OrderStore,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    delivering: Mutex<HashSet<String>>,
    /// Serialises roll-ups, so one computed from older statuses never lands after a newer one.
    rolling: tokio::sync::Mutex<()>,
}

impl Engine {
    /// An engine over opened parts; background tasks go to `tasks` and stop on `shutdown`.
    pub fn new(
        config: Config,
        catalog: Catalog,
        registry: DomainRegistry,
        store: OrderStore,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let inner = Inner {
            config,
            catalog,
            registry,
            store,
            shutdown,
            tasks,
            delivering: Mutex::default(),
            rolling: tokio::sync::Mutex::new(()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The domain registry.
    pub fn registry(&self) -> &DomainRegistry {
        &self.inner.registry
    }

    /// The order store.
    pub fn store(&self) -> &OrderStore {
        &self.inner.store
    }

    /// The process-wide shutdown token.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Where background tasks are tracked.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Marks outbox entry `key` as being delivered; false when a task already delivers it.
    pub(crate) fn claim_delivery(&self, key: &str) -> bool {
        self.inner
            .delivering
            .lock()
            .is_ok_and(|mut s| s.insert(key.to_string()))
    }

    /// Releases a claim taken with [`Self::claim_delivery`].
    pub(crate) fn release_delivery(&self, key: &str) {
        if let Ok(mut s) = self.inner.delivering.lock() {
            s.remove(key);
        }
    }

    /// Validates `new` against the catalog, registry and inventory, stores it (one transaction,
    /// flushed) and starts its fan-out. The same idempotency key returns the stored order.
    pub async fn create_order(&self, new: NewOrder) -> Result<Created, OrderError> {
        let store = self.store();
        if let Some(order) = store.find_by_key(&new.idempotency_key)? {
            return Ok(Created {
                order,
                created: false,
                outbox: Vec::new(),
            });
        }
        let result = self.resolve_and_store(&new).await;
        if result.is_err() {
            // A concurrent request with the same key may have won the race.
            if let Some(order) = store.find_by_key(&new.idempotency_key)? {
                return Ok(Created {
                    order,
                    created: false,
                    outbox: Vec::new(),
                });
            }
        }
        let created = result?;
        for entry in &created.outbox {
            crate::fanout::spawn(self, entry.clone());
        }
        Ok(created)
    }

    async fn resolve_and_store(&self, new: &NewOrder) -> Result<Created, OrderError> {
        let inventory = self
            .store()
            .inventory(new.items.iter().map(|i| i.service_name.as_str()))?;
        let domains = self.registry().list()?;
        let ctx = Context {
            catalog: self.catalog(),
            domains: &domains,
            inventory: &inventory,
        };
        let items = new
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| resolve_item(i, item, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        self.store().create(new, &items, now_millis()).await
    }

    /// Applies `mutate` to order `id` and rolls it up with the latest statuses and liveness;
    /// when `outbox_key` is given, that outbox entry is removed in the same transaction.
    pub async fn reroll(
        &self,
        id: &str,
        outbox_key: Option<&str>,
        mutate: impl Fn(&mut Order),
    ) -> Result<Option<Order>, OrderError> {
        let _rolling = self.inner.rolling.lock().await;
        let Some(current) = self.store().get(id)? else {
            return self.store().update_with(id, outbox_key, Clone::clone).await;
        };
        let statuses = self.store().statuses_for(&current)?;
        let health = self.registry().health_map()?;
        let now = now_millis();
        self.store()
            .update_with(id, outbox_key, |old| {
                let mut changed = old.clone();
                mutate(&mut changed);
                let mut next = roll_up(&changed, &statuses, &health, now);
                if next != *old && next.revision == old.revision {
                    next.revision = old.revision + 1;
                }
                next
            })
            .await
    }

    /// Re-rolls every order that is not final (liveness changes without events).
    pub async fn reroll_open(&self) -> Result<(), OrderError> {
        for id in self.store().open_orders()? {
            self.reroll(&id, None, |_| {}).await?;
        }
        Ok(())
    }

    /// Re-rolls every open order with an item in `domain` (it was heard again).
    pub async fn reroll_domain(&self, domain: &str) -> Result<(), OrderError> {
        for id in self.store().open_orders()? {
            let concerned = self
                .store()
                .get(&id)?
                .is_some_and(|o| o.intent_ids().any(|(d, _)| d == domain));
            if concerned {
                self.reroll(&id, None, |_| {}).await?;
            }
        }
        Ok(())
    }

    /// Cancels order `id` unless it is final. Intents already delivered or queued stay with
    /// the domains (the inventory already holds the new generation): cancel stops tracking.
    pub async fn cancel_order(&self, id: &str, reason: &str) -> Result<Order, OrderError> {
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
        let updated = self
            .store()
            .update(id, |o| {
                let mut o = o.clone();
                if o.state.is_final() {
                    return o;
                }
                o.state = OrderState::Cancelled;
                for item in o.items.iter_mut().filter(|i| !i.state.is_final()) {
                    item.state = OrderState::Cancelled;
                }
                o.note(now, text.clone());
                o.revision += 1;
                o
            })
            .await?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?;
        if updated.state != OrderState::Cancelled {
            return Err(OrderError::FailedPrecondition(format!(
                "order {id} became {}",
                updated.state.name()
            )));
        }
        Ok(updated)
    }

    /// Records a status from `domain` and re-rolls the orders it concerns.
    pub async fn on_status(&self, status: crate::intent::IntentStatus) -> Result<(), OrderError> {
        if !self.store().record_status(&status)? {
            return Ok(());
        }
        for id in self.store().orders_for_intent(&status.intent_id)? {
            self.reroll(&id, None, |_| {}).await?;
        }
        Ok(())
    }
}
