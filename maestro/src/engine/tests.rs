//! The controller end to end in process, in paused time: an order is planned, stored in the
//! in-memory store, delivered through the fake domain client, the acknowledgement comes back as
//! a report that removes the entry from the outbox, and the domain's status completes it.

use super::*;
use crate::config::Config;
use crate::delivery::{self, DeliveryError};
use crate::fixtures::{FakeDomainClient, add, catalog};
use crate::intent::IntentStatus;
use crate::model::{Delivery, OrderState, ServiceState};
use crate::registry::DomainRegistration;
use crate::status_watch::StatusEvent;
use crate::store::{MemoryOrderStore, OrderChange};
use maestro_proto::domain::v1 as dpb;
use std::time::Duration;
use tokio::sync::broadcast;

pub(super) struct Harness {
    pub(super) engine: Engine,
    statuses: tokio::sync::mpsc::Sender<StatusEvent>,
    store: Arc<dyn OrderStore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

async fn registry() -> DomainRegistry {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let registry = DomainRegistry::open(&db, 60_000).unwrap();
    let reg = DomainRegistration::try_from(dpb::RegisterDomainRequest {
        id: "north".into(),
        endpoint: "http://127.0.0.1:1".into(),
        sites: vec!["n1".into()],
        ..Default::default()
    })
    .unwrap();
    registry.register(reg, now_millis()).await.unwrap();
    registry
}

pub(super) async fn start(store: Arc<dyn OrderStore>, client: &Arc<FakeDomainClient>) -> Harness {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (engine, reports) = unstarted(&store, client, &shutdown, &tasks).await;
    let (statuses, status_events) = tokio::sync::mpsc::channel(16);
    engine.start(reports, status_events).await.unwrap();
    Harness {
        engine,
        statuses,
        store,
        shutdown,
        tasks,
    }
}

/// An engine over `store` delivering through `client`, its loops not started, and where
/// delivery's reports arrive.
pub(super) async fn unstarted(
    store: &Arc<dyn OrderStore>,
    client: &Arc<FakeDomainClient>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> (
    Engine,
    tokio::sync::mpsc::Receiver<delivery::DeliveryReport>,
) {
    let config = Config {
        fanout_backoff_min_ms: 100,
        fanout_backoff_max_ms: 1_000,
        ..Config::default()
    };
    let (deliveries, reports) =
        delivery::start(client.clone(), config.backoff(), shutdown.clone(), tasks);
    let engine = Engine::new(
        config,
        catalog(),
        registry().await,
        store.clone(),
        deliveries,
        shutdown.clone(),
        tasks.clone(),
    );
    (engine, reports)
}

impl Harness {
    pub(super) async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The status of intent `id` active on north at generation 1, its one site ready.
fn active(id: &str) -> IntentStatus {
    IntentStatus {
        intent_id: id.to_string(),
        domain: "north".into(),
        generation: 1,
        observed_generation: 1,
        state: ServiceState::Active,
        ready: 1,
        total: 1,
        sites: vec![],
        reasons: vec![],
        updated_at_ms: now_millis(),
        withheld: Vec::new(),
    }
}

/// The next stored revision whose delivery to its first domain is `want`.
pub(super) async fn delivered(
    changes: &mut broadcast::Receiver<OrderChange>,
    want: Delivery,
) -> Order {
    loop {
        let change = changes.recv().await.unwrap();
        if change.order.items[0].domains[0].delivery == want {
            return (*change.order).clone();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_order_is_planned_delivered_and_acknowledged() {
    let down = Err(DeliveryError::Unavailable("connection refused".into()));
    let client = Arc::new(FakeDomainClient::answering([down]));
    let h = start(Arc::new(MemoryOrderStore::default()), &client).await;
    let mut changes = h.store.subscribe();

    let created = h
        .engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    assert!(created.created);
    assert_eq!(created.outbox.len(), 1);
    let first = changes.recv().await.unwrap();
    assert_eq!(
        (first.order_id.as_str(), first.revision),
        (created.order.id.as_str(), 1)
    );

    let pending = delivered(&mut changes, Delivery::Pending).await;
    let dp = &pending.items[0].domains[0];
    assert_eq!(
        (dp.delivery_attempts, dp.message.as_str()),
        (1, "connection refused")
    );
    assert_eq!(
        h.store.outbox().unwrap().len(),
        1,
        "kept until acknowledged"
    );

    let acked = delivered(&mut changes, Delivery::Acknowledged).await;
    assert_eq!(acked.items[0].domains[0].delivery_attempts, 2);
    assert!(
        h.store.outbox().unwrap().is_empty(),
        "left with the acknowledgement"
    );
    let calls = client.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].intent, created.outbox[0].intent);

    let status = active(&created.outbox[0].intent.id);
    h.statuses.send(StatusEvent::Status(status)).await.unwrap();
    let done = loop {
        let change = changes.recv().await.unwrap();
        if change.order.state.is_final() {
            break change.order;
        }
    };
    assert_eq!(
        done.state,
        OrderState::Completed,
        "the domain's status completes it"
    );
    assert!(h.store.open_orders().unwrap().is_empty());

    let again = h
        .engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.order.id, created.order.id);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        client.calls().len(),
        2,
        "the same key delivers nothing again"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_rejected_intent_fails_the_item_and_leaves_the_outbox() {
    let refused = Err(DeliveryError::Rejected("unknown kind".into()));
    let client = Arc::new(FakeDomainClient::answering([refused]));
    let h = start(Arc::new(MemoryOrderStore::default()), &client).await;
    let mut changes = h.store.subscribe();
    h.engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    let order = delivered(&mut changes, Delivery::Rejected).await;
    assert_eq!(order.items[0].state, OrderState::Failed);
    assert_eq!(order.state, OrderState::Failed);
    assert!(h.store.outbox().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn entries_left_in_the_outbox_are_delivered_after_a_restart() {
    let store = Arc::new(MemoryOrderStore::default());
    let unreachable = Arc::new(FakeDomainClient::unreachable("connection refused"));
    let h = start(store.clone(), &unreachable).await;
    let mut changes = store.subscribe();
    let created = h
        .engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    delivered(&mut changes, Delivery::Pending).await;
    h.stop().await;
    assert_eq!(store.outbox().unwrap(), created.outbox);

    let client = Arc::new(FakeDomainClient::answering([]));
    let h = start(store.clone(), &client).await;
    let acked = delivered(&mut changes, Delivery::Acknowledged).await;
    assert_eq!(acked.id, created.order.id);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(client.calls().len(), 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_acknowledgement_and_a_status_that_wait_together_are_one_revision() {
    // Delivery's own reports are not recorded here: the test sends the report itself.
    let unreachable = Arc::new(FakeDomainClient::unreachable("connection refused"));
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let store: Arc<dyn OrderStore> = Arc::new(MemoryOrderStore::default());
    let (engine, _attempts) = unstarted(&store, &unreachable, &shutdown, &tasks).await;
    let created = engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap();
    let entry = created.outbox[0].clone();
    let (reports_tx, reports) = tokio::sync::mpsc::channel(4);
    let (statuses_tx, statuses) = tokio::sync::mpsc::channel(4);
    reports_tx
        .send(delivery::DeliveryReport {
            entry: entry.clone(),
            outcome: delivery::DeliveryOutcome::Acknowledged,
        })
        .await
        .unwrap();
    let status = active(&entry.intent.id);
    statuses_tx.send(StatusEvent::Status(status)).await.unwrap();
    let mut changes = store.subscribe();
    engine.start(reports, statuses).await.unwrap();

    let change = tokio::time::timeout(Duration::from_secs(30), changes.recv())
        .await
        .expect("the order changed")
        .unwrap();
    let order = &change.order;
    assert_eq!(
        (order.items[0].domains[0].delivery, order.state),
        (Delivery::Acknowledged, OrderState::Completed),
        "the first change records the acknowledgement and the status"
    );
    assert_eq!(
        change.revision,
        created.order.revision + 1,
        "one roll-up, one revision"
    );
    assert!(
        store.outbox().unwrap().is_empty(),
        "the entry left the outbox"
    );
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}
