//! The engine, maestro's controller: what the gRPC handlers and the background loops call.
//! CreateOrder reads the current state, asks the pure [`crate::plan::plan`] what to do, has the
//! store persist exactly that and hands the outbox entries to [`crate::delivery`]. Delivery
//! reports and status events ([`crate::status_watch`]) come back as data through channels; each
//! re-runs the pure roll-up of the orders it touches. Nothing calls back into the engine.

#[cfg(test)]
mod audit_tests;
mod changes;
pub use changes::PendingChange;
mod deliveries;
mod failover;
#[cfg(test)]
mod fault_tests;
mod liveness;
mod pace;
#[cfg(test)]
mod rollback_tests;
mod rollouts;
mod rounds;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tick_tests;
#[cfg(test)]
mod times_alone_tests;

use crate::config::Config;
use crate::delivery::DeliveryQueue;
use crate::error::OrderError;
use crate::idempotency::KeyedOrder;
use crate::intent::OutboxEntry;
use crate::model::Order;
use crate::offers::{CatalogView, Offers};
use crate::plan::{CurrentState, Decision, Fresh, LastRollout, plan};
use crate::registry::DomainRegistry;
use crate::request::NewOrder;
use crate::store::{OrderStore, Persisted};
use maestro_common::time::now_millis;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often CreateOrder plans again when the inventory moved under it before giving up.
const MAX_PLANS: usize = 8;

/// The result of [`Engine::create_order`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The order (new or the one the idempotency key already named).
    pub order: Order,
    /// False when the key matched an existing order.
    pub created: bool,
    /// Outbox entries to deliver (empty when not created).
    pub outbox: Vec<OutboxEntry>,
}

/// An order [`Engine::write_order_as`] wrote (or found under its idempotency key), not durable
/// yet: [`Engine::acknowledge_order`] makes it durable and starts its deliveries.
#[derive(Debug)]
#[must_use = "a written order is acknowledged once durable"]
pub struct WrittenOrder(Created);

impl WrittenOrder {
    /// The order (new or the one the idempotency key already named).
    pub fn order(&self) -> &Order {
        &self.0.order
    }
}

impl Created {
    fn existing(order: Order) -> Self {
        Self {
            order,
            created: false,
            outbox: Vec::new(),
        }
    }
}

/// Shared state of a running maestro.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    catalog: CatalogView,
    registry: DomainRegistry,
    store: Arc<dyn OrderStore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    deliveries: DeliveryQueue,
    /// Serialises roll-ups, so one computed from older statuses never lands after a newer one.
    rolling: Arc<tokio::sync::Mutex<()>>,
    /// When the roll-up loops may start their next round.
    pace: pace::Pace,
    /// When each fail-over (service, generation it leaves) was last tried.
    failovers: std::sync::Mutex<std::collections::BTreeMap<(String, u64), i64>>,
    /// The open orders and the domains' liveness as the liveness ticks see them.
    ticks: std::sync::Mutex<liveness::Ticks>,
}

impl Engine {
    /// An engine over opened parts that sends delivery work to `deliveries`; background tasks
    /// go to `tasks` and stop on `shutdown`. Start its loops with [`Self::start`].
    pub fn new(
        config: Config,
        catalog: crate::catalog::Catalog,
        registry: DomainRegistry,
        store: Arc<dyn OrderStore>,
        deliveries: DeliveryQueue,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let inner = Inner {
            config,
            catalog: CatalogView::new(catalog, registry.clone()),
            registry,
            store,
            shutdown,
            tasks,
            deliveries,
            rolling: Arc::default(),
            pace: pace::Pace::default(),
            failovers: std::sync::Mutex::default(),
            ticks: std::sync::Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The catalog: maestro's own and the registered domains' specifications.
    pub fn catalog(&self) -> &CatalogView {
        &self.inner.catalog
    }

    /// The catalog as of now, with who offers what.
    pub fn offers(&self) -> Result<Arc<Offers>, OrderError> {
        Ok(self.inner.catalog.current()?)
    }

    /// The domain registry.
    pub fn registry(&self) -> &DomainRegistry {
        &self.inner.registry
    }

    /// The order store.
    pub fn store(&self) -> &Arc<dyn OrderStore> {
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

    /// Plans `new` against the current state (catalog, registry, inventory, the order its
    /// idempotency key names), stores the plan (one transaction, flushed) and starts its
    /// deliveries. The same idempotency key with the same request returns the stored order;
    /// with another request it is refused ([`crate::idempotency`]). A plan made from a state
    /// that moved before it was stored is made again from the new state.
    pub async fn create_order(&self, new: NewOrder) -> Result<Created, OrderError> {
        self.create_order_as(new, |_| Ok(())).await
    }

    /// What `new` would store and send, decided from the current state exactly as CreateOrder
    /// decides it, without storing anything (the idempotency key is not looked up).
    pub fn plan_only(&self, new: &NewOrder) -> Result<crate::plan::OrderPlan, OrderError> {
        let names: Vec<&str> = new.items.iter().map(|i| i.service_name.as_str()).collect();
        let inventory = self.store().inventory(&names)?;
        let domains = self.registry().list()?;
        let offers = self.offers()?;
        let rollouts = self.last_rollouts(new, &inventory)?;
        let fit = self.fit(new)?;
        let state = CurrentState {
            existing: None,
            inventory: &inventory,
            domains: &domains,
            catalog: &offers,
            rollouts: &rollouts,
            fit: &fit,
        };
        match plan(new, state, &Fresh::new(now_millis()))? {
            Decision::Create(p) => Ok(p),
            // Without an existing order, planning always creates.
            Decision::Existing(_) => Err(OrderError::FailedPrecondition(
                "the order already exists".into(),
            )),
        }
    }

    /// What placing `new` needs to know of the domains: only read when one of its items asks
    /// for a count of domains (it scans the whole inventory).
    fn fit(&self, new: &NewOrder) -> Result<crate::placement::Fit, OrderError> {
        if new.items.iter().all(|i| i.placement.count == 0) {
            return Ok(crate::placement::Fit::default());
        }
        let now = now_millis();
        let down = self
            .registry()
            .health_map()?
            .into_iter()
            .filter(|(_, h)| h.unreachable(now))
            .map(|(id, _)| id)
            .collect();
        let mut load = std::collections::BTreeMap::new();
        for e in self
            .store()
            .inventory_all()?
            .values()
            .filter(|e| !e.deleted)
        {
            for t in &e.targets {
                *load.entry(t.domain.clone()).or_insert(0) += 1;
            }
        }
        let capacity = self.registry().capacity_map();
        Ok(crate::placement::Fit {
            down,
            load,
            capacity,
        })
    }

    /// The rollouts that produced the current generation of each service of `inventory`; only
    /// read when an item of `new` is rolled out (it reads one order per service).
    fn last_rollouts(
        &self,
        new: &NewOrder,
        inventory: &std::collections::BTreeMap<String, crate::inventory::InventoryEntry>,
    ) -> Result<std::collections::BTreeMap<String, LastRollout>, OrderError> {
        let mut out = std::collections::BTreeMap::new();
        if new.items.iter().all(|i| i.rollout.is_none()) {
            return Ok(out);
        }
        for (name, entry) in inventory {
            let Some(order) = self.store().get(&entry.order_id)? else {
                continue;
            };
            let item = order.items.iter().find(|i| i.service.name == *name);
            if let Some((item, rollout)) = item.and_then(|i| Some((i, i.rollout.clone()?))) {
                let open = !order.state.is_final() && !item.state.is_final();
                out.insert(
                    name.clone(),
                    LastRollout {
                        order_id: order.id.clone(),
                        rollout,
                        open,
                    },
                );
            }
        }
        Ok(out)
    }

    /// [`Self::create_order`] for a caller that `admit` must allow to act on the order (the
    /// planned one, or the stored one its idempotency key names) before anything is stored or
    /// returned.
    pub async fn create_order_as(
        &self,
        new: NewOrder,
        admit: impl Fn(&Order) -> Result<(), OrderError>,
    ) -> Result<Created, OrderError> {
        let written = self.write_order_as(new, admit)?;
        self.acknowledge_order(written).await
    }

    /// [`Self::create_order_as`] up to the write: the plan is stored in one transaction, not
    /// durable yet, and nothing is announced or delivered. [`Self::acknowledge_order`] does
    /// the rest; what is written to the same database in between (the call's audit entry) is
    /// made durable by the same flush.
    pub fn write_order_as(
        &self,
        new: NewOrder,
        admit: impl Fn(&Order) -> Result<(), OrderError>,
    ) -> Result<WrittenOrder, OrderError> {
        let store = self.store();
        let key = new.idempotency_key.as_str();
        let request_hash = crate::idempotency::request_hash(&new);
        let names: Vec<&str> = new.items.iter().map(|i| i.service_name.as_str()).collect();
        // Whether the caller may see the order comes first: a refused caller learns nothing
        // of it, not even that the key names another request's order.
        let settle = |keyed: KeyedOrder| -> Result<Order, OrderError> {
            admit(&keyed.order)?;
            keyed.answer(key, &request_hash)
        };
        for _ in 0..MAX_PLANS {
            let existing = store.find_by_key(key)?.map(settle).transpose()?;
            let inventory = store.inventory(&names)?;
            let domains = self.registry().list()?;
            let offers = self.offers()?;
            let rollouts = self.last_rollouts(&new, &inventory)?;
            let fit = self.fit(&new)?;
            let state = CurrentState {
                existing: existing.as_ref(),
                inventory: &inventory,
                domains: &domains,
                catalog: &offers,
                rollouts: &rollouts,
                fit: &fit,
            };
            let mut fresh = Fresh::new(now_millis());
            if let Some(tp) = &new.traceparent {
                fresh.traceparent.clone_from(tp);
            }
            let decision = match plan(&new, state, &fresh) {
                Ok(d) => d,
                // A concurrent request with the same key may have won the race.
                Err(e) => match store.find_by_key(key)? {
                    Some(keyed) => Decision::Existing(settle(keyed)?),
                    None => return Err(e),
                },
            };
            let plan = match decision {
                Decision::Existing(order) => {
                    admit(&order)?;
                    return Ok(WrittenOrder(Created::existing(order)));
                }
                Decision::Create(plan) => plan,
            };
            admit(&plan.order)?;
            match store.write(&plan)? {
                Persisted::Created(order) => {
                    return Ok(WrittenOrder(Created {
                        order,
                        created: true,
                        outbox: plan.outbox,
                    }));
                }
                Persisted::KeyTaken(keyed) => {
                    return Ok(WrittenOrder(Created::existing(settle(keyed)?)));
                }
                Persisted::Stale => {
                    tracing::debug!("inventory moved while planning; planning again")
                }
            }
        }
        Err(OrderError::FailedPrecondition(format!(
            "the services of the order changed {MAX_PLANS} times while it was planned; retry"
        )))
    }

    /// Makes `written` durable (also an existing order: the request that stored it may not
    /// have flushed it yet), then announces a new order and starts its deliveries. All of it
    /// runs to its end even if the caller stops waiting ([`Self::to_the_end`]).
    pub async fn acknowledge_order(&self, written: WrittenOrder) -> Result<Created, OrderError> {
        let engine = self.clone();
        self.to_the_end(async move {
            let WrittenOrder(created) = written;
            let new = created.created.then_some(&created.order);
            engine.store().commit(new).await?;
            if created.created {
                engine.noted(&created.order);
                crate::metrics::order_state(&created.order);
                for entry in &created.outbox {
                    engine.inner.deliveries.deliver(entry.clone()).await;
                }
            }
            Ok(created)
        })
        .await
    }

    /// Runs `work` on the engine's task tracker and waits for it. A gRPC handler is dropped
    /// when its caller goes away; work that finishes a written change (its flush, its
    /// announcement, handing its intents to delivery) must not stop there with it, or the
    /// change would wait for the next start to be delivered.
    async fn to_the_end<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, OrderError>> + Send + 'static,
    ) -> Result<T, OrderError> {
        let work = tracing::Instrument::in_current_span(work);
        match self.tasks().spawn(work).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => Err(OrderError::Stopped("it failed".into())),
            Err(_) => Err(OrderError::Stopped("maestro is stopping".into())),
        }
    }

    /// Re-rolls every order that is not final.
    pub async fn reroll_open(&self) -> Result<(), OrderError> {
        for id in self.store().open_orders()? {
            self.reroll(&id, &[], |_| {}).await?;
        }
        Ok(())
    }

    /// What a liveness tick does: re-rolls the open orders that time passing may have changed
    /// ([`liveness`]): those on a domain whose liveness changed since the last tick and those
    /// with a rollout under way; every open order on the first tick.
    pub async fn reroll_on_tick(&self) -> Result<(), OrderError> {
        let now = liveness::liveness_at(&self.registry().health_map()?, now_millis());
        let due = self.ticks().due(&now);
        match due {
            liveness::Due::All => self.reroll_open().await?,
            liveness::Due::Orders(ids) => {
                for id in ids {
                    self.reroll(&id, &[], |_| {}).await?;
                }
            }
        }
        self.ticks().ticked(now);
        Ok(())
    }

    /// Re-rolls every open order with an item in `domain` (it was heard again).
    pub async fn reroll_domain(&self, domain: &str) -> Result<(), OrderError> {
        let known = self.ticks().on_domain(domain);
        let ids = match known {
            Some(ids) => ids,
            // Before the first tick: every open order of the store, read.
            None => {
                let mut ids = Vec::new();
                for id in self.store().open_orders()? {
                    if self
                        .store()
                        .get(&id)?
                        .is_some_and(|o| o.intent_ids().any(|(d, _)| d == domain))
                    {
                        ids.push(id);
                    }
                }
                ids
            }
        };
        for id in ids {
            self.reroll(&id, &[], |_| {}).await?;
        }
        Ok(())
    }

    /// `order` as just committed, for the liveness ticks.
    fn noted(&self, order: &Order) {
        self.ticks().note(order);
    }

    fn ticks(&self) -> std::sync::MutexGuard<'_, liveness::Ticks> {
        self.inner
            .ticks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
