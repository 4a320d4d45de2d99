//! The controller when the world moves under it, in paused time: a concurrent request stores
//! first (the same key answers with its order; another key on the same service makes the plan
//! stale, so it is planned again and refused), and a final delivery outcome the store cannot
//! record keeps the entry in the outbox and delivers it again. A caller that goes away while its
//! order is flushed (on a real sled store) does not stop its delivery.

use super::tests::{delivered, start};
use super::*;
use crate::error::StoreError;
use crate::fixtures::{FakeDomainClient, add, catalog, domain};
use crate::intent::{IntentStatus, OutboxEntry};
use crate::inventory::InventoryEntry;
use crate::model::{Delivery, OrderState};
use crate::plan::OrderPlan;
use crate::store::{MemoryOrderStore, OrderChange};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// What goes wrong, once (or what is looked at).
#[derive(Debug)]
pub(super) enum Interference {
    /// Just before the first create, this other plan is stored (a concurrent request won).
    RaceFirstCreate(Box<OrderPlan>),
    /// Recording the first final delivery outcome fails.
    FailFirstOutcome,
    /// Nothing goes wrong; each commit of a change notes the order's state and how many entries
    /// this audit log holds then (in [`Interfering::commits`]).
    NoteCommits(std::sync::OnceLock<maestro_common::audit::AuditLog>),
    /// Nothing goes wrong; each roll-up (a change written) notes the order's id (in
    /// [`Interfering::rolled`]).
    NoteRollUps,
}

/// The in-memory store with one [`Interference`].
#[derive(Debug)]
pub(super) struct Interfering {
    inner: MemoryOrderStore,
    pub(super) interference: Interference,
    fired: AtomicBool,
    /// The competitor's order, written and not committed yet.
    raced: std::sync::Mutex<Option<Order>>,
    /// What [`Interference::NoteCommits`] noted.
    pub(super) commits: std::sync::Mutex<Vec<(OrderState, u64)>>,
    /// What [`Interference::NoteRollUps`] noted.
    pub(super) rolled: std::sync::Mutex<Vec<String>>,
}

impl Interfering {
    pub(super) fn new(interference: Interference) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryOrderStore::default(),
            interference,
            fired: AtomicBool::new(false),
            raced: std::sync::Mutex::default(),
            commits: std::sync::Mutex::default(),
            rolled: std::sync::Mutex::default(),
        })
    }

    fn lock_raced(&self) -> std::sync::MutexGuard<'_, Option<Order>> {
        self.raced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fire(&self) -> bool {
        !self.fired.swap(true, Ordering::SeqCst)
    }
}

impl OrderStore for Interfering {
    fn subscribe(&self) -> broadcast::Receiver<OrderChange> {
        self.inner.subscribe()
    }
    fn get(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.inner.get(id)
    }
    fn find_by_key(&self, key: &str) -> Result<Option<crate::idempotency::KeyedOrder>, StoreError> {
        self.inner.find_by_key(key)
    }
    fn inventory(&self, names: &[&str]) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        self.inner.inventory(names)
    }
    fn inventory_all(&self) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        self.inner.inventory_all()
    }
    fn write(&self, plan: &OrderPlan) -> Result<Persisted, StoreError> {
        if let Interference::RaceFirstCreate(other) = &self.interference
            && self.fire()
        {
            let won = self.inner.write(other)?;
            *self.lock_raced() = crate::store::created_order(&won).cloned();
        }
        self.inner.write(plan)
    }
    fn commit<'a>(&'a self, created: Option<&'a Order>) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // The competitor's own commit, announcing its order.
            let raced = self.lock_raced().take();
            self.inner.commit(raced.as_ref()).await?;
            self.inner.commit(created).await
        })
    }
    fn list(
        &self,
        page_size: usize,
        page_token: &str,
        state: Option<OrderState>,
        fits: crate::store::Fits<'_>,
    ) -> Result<(Vec<Order>, String), OrderError> {
        self.inner.list(page_size, page_token, state, fits)
    }
    fn write_change(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        change: crate::store::OrderSend<'_>,
    ) -> Result<Option<crate::store::WrittenChange>, StoreError> {
        if matches!(self.interference, Interference::FailFirstOutcome)
            && !delivered.is_empty()
            && self.fire()
        {
            return Err(StoreError::Corrupt {
                key: "outbox".into(),
                reason: "disk full".into(),
            });
        }
        if matches!(self.interference, Interference::NoteRollUps) {
            self.rolled.lock().unwrap().push(id.to_string());
        }
        self.inner.write_change(id, delivered, change)
    }
    fn commit_change(
        &self,
        written: crate::store::WrittenChange,
    ) -> BoxFuture<'_, Result<crate::store::Sent, StoreError>> {
        if let Interference::NoteCommits(audit) = &self.interference {
            let entries = audit.get().map_or(0, |log| log.head().0);
            let noted = (written.order.state, entries);
            self.commits.lock().unwrap().push(noted);
        }
        self.inner.commit_change(written)
    }
    fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox()
    }
    fn open_orders(&self) -> Result<Vec<String>, StoreError> {
        self.inner.open_orders()
    }
    fn orders_for_intent(&self, intent_id: &str) -> Result<Vec<String>, StoreError> {
        self.inner.orders_for_intent(intent_id)
    }
    fn record_status(&self, status: &IntentStatus) -> Result<bool, StoreError> {
        self.inner.record_status(status)
    }
    fn statuses_for(&self, order: &Order) -> Result<BTreeMap<String, IntentStatus>, StoreError> {
        self.inner.statuses_for(order)
    }
}

/// The plan of another request, made against an empty store.
fn competitor(key: &str, order_id: &str) -> Box<OrderPlan> {
    let domains = [domain("north", &["n1"])];
    let catalog = crate::offers::Offers::from(catalog());
    let inventory = BTreeMap::new();
    let state = CurrentState {
        existing: None,
        inventory: &inventory,
        domains: &domains,
        catalog: &catalog,
        rollouts: &Default::default(),
        fit: &Default::default(),
    };
    let fresh = Fresh {
        order_id: order_id.into(),
        traceparent: String::new(),
        now_ms: 1,
    };
    match plan(&add(key, "web", &["north"]), state, &fresh).unwrap() {
        Decision::Create(p) => Box::new(p),
        Decision::Existing(_) => unreachable!("the store is empty"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_request_with_the_same_key_answers_with_its_order() {
    let client = Arc::new(FakeDomainClient::answering([]));
    let store = Interfering::new(Interference::RaceFirstCreate(competitor("k1", "winner")));
    let h = start(store.clone(), &client).await;
    let created = h
        .engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    assert!(!created.created);
    assert_eq!(created.order.id, "winner");
    assert_eq!(store.outbox().unwrap().len(), 1, "only the winner's entry");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_plan_made_stale_by_another_order_is_planned_again() {
    let client = Arc::new(FakeDomainClient::answering([]));
    let store = Interfering::new(Interference::RaceFirstCreate(competitor("k0", "winner")));
    let h = start(store.clone(), &client).await;
    let refused = h.engine.create_order(add("k1", "web", &["north"])).await;
    assert!(
        matches!(refused, Err(OrderError::AlreadyExists(_))),
        "planned again against the new inventory: {refused:?}"
    );
    assert!(store.find_by_key("k1").unwrap().is_none(), "nothing stored");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_acknowledgement_that_could_not_be_recorded_is_delivered_again() {
    let client = Arc::new(FakeDomainClient::answering([]));
    let store = Interfering::new(Interference::FailFirstOutcome);
    let h = start(store.clone(), &client).await;
    let mut changes = store.subscribe();
    h.engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    let acked = delivered(&mut changes, Delivery::Acknowledged).await;
    assert_eq!(acked.items[0].domains[0].delivery_attempts, 1);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(
        client.calls().len(),
        2,
        "the entry stayed and went out again"
    );
    h.stop().await;
}

/// A sled store in a fresh directory, and the directory.
fn sled_store() -> (Arc<dyn OrderStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = Arc::new(crate::store::SledOrderStore::open(&db).unwrap());
    (store, dir)
}

/// tonic drops a handler's future when its caller goes away: here while the order is flushed.
/// The order is flushed, announced and delivered all the same, and a retry with the same key
/// answers with it and delivers nothing twice.
#[tokio::test]
async fn an_order_whose_caller_went_away_during_its_flush_is_delivered_all_the_same() {
    let (store, _dir) = sled_store();
    let client = Arc::new(FakeDomainClient::answering([]));
    let h = start(store.clone(), &client).await;
    let mut changes = store.subscribe();
    let new = || add("k1", "web", &["north"]);
    let written = h.engine.write_order_as(new(), |_| Ok(())).unwrap();
    let id = written.order().id.clone();

    let mut handler = Box::pin(h.engine.acknowledge_order(written));
    assert!(
        futures::poll!(&mut handler).is_pending(),
        "not done at the first poll"
    );
    drop(handler);

    let wait = delivered(&mut changes, Delivery::Acknowledged);
    let acked = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the order is delivered within 30 s");
    assert_eq!(acked.id, id);
    assert!(store.outbox().unwrap().is_empty());
    let again = h.engine.create_order(new()).await.unwrap();
    assert_eq!(
        (again.order.id.as_str(), again.created),
        (id.as_str(), false)
    );
    assert_eq!(client.calls().len(), 1, "delivered once");
    h.stop().await;
}

/// The same for CancelOrder: a cancellation whose caller went away during its flush is flushed
/// and announced (a `WatchOrder` of the order sees it end).
#[tokio::test]
async fn a_cancellation_whose_caller_went_away_during_its_flush_is_announced() {
    let (store, _dir) = sled_store();
    let client = Arc::new(FakeDomainClient::answering([]));
    let h = start(store.clone(), &client).await;
    let mut changes = store.subscribe();
    let new = add("k1", "web", &["north"]);
    let id = h.engine.create_order(new).await.unwrap().order.id;
    // Delivered: nothing else changes the order from now on.
    let acked = delivered(&mut changes, Delivery::Acknowledged);
    tokio::time::timeout(Duration::from_secs(30), acked)
        .await
        .expect("delivered within 30 s");

    let mut handler = Box::pin(h.engine.cancel_order(&id, "changed my mind"));
    assert!(
        futures::poll!(&mut handler).is_pending(),
        "not done at the first poll"
    );
    drop(handler);

    let cancelled = async {
        loop {
            let change = changes.recv().await.unwrap();
            if change.order.state == OrderState::Cancelled {
                return change.order_id;
            }
        }
    };
    let seen = tokio::time::timeout(Duration::from_secs(30), cancelled)
        .await
        .expect("the cancellation is announced within 30 s");
    assert_eq!(seen, id);
    h.stop().await;
}
