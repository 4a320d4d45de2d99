//! The liveness tick re-rolls what time changed, not every open order
//! ([`super::liveness`]): the first tick every open order, then only the orders on a domain whose
//! liveness changed since.

use super::fault_tests::{Interference, Interfering};
use super::tests::unstarted;
use crate::fixtures::{FakeDomainClient, add};
use crate::registry::DomainRegistration;
use crate::store::OrderStore;
use maestro_common::time::now_millis;
use maestro_proto::domain::v1 as dpb;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The registration of domain `south` (site `s1`).
fn south() -> DomainRegistration {
    DomainRegistration::try_from(dpb::RegisterDomainRequest {
        id: "south".into(),
        endpoint: "http://127.0.0.1:1".into(),
        sites: vec!["s1".into()],
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_tick_re_rolls_only_the_orders_on_a_domain_whose_liveness_changed() {
    let store = Interfering::new(Interference::NoteRollUps);
    let as_store: Arc<dyn OrderStore> = store.clone();
    let client = Arc::new(FakeDomainClient::answering([]));
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let (engine, _reports) = unstarted(&as_store, &client, &shutdown, &tasks).await;
    // `north` was heard just now; `south` two minutes ago (the threshold is one).
    let registry = engine.registry();
    registry
        .register(south(), now_millis() - 120_000)
        .await
        .unwrap();
    let on_north = engine
        .create_order(add("k-north", "web", &["north"]))
        .await
        .unwrap()
        .order
        .id;
    let on_south = engine
        .create_order(add("k-south", "api", &["south"]))
        .await
        .unwrap()
        .order
        .id;
    let rolled = || std::mem::take(&mut *store.rolled.lock().unwrap());
    let south_unreachable = || {
        let order = store.get(&on_south).unwrap().unwrap();
        order.items[0].domains[0].unreachable
    };

    engine.reroll_on_tick().await.unwrap();
    let mut first = rolled();
    first.sort();
    let mut open = vec![on_north.clone(), on_south.clone()];
    open.sort();
    assert_eq!(first, open, "the first tick re-rolls every open order");
    assert!(south_unreachable(), "south's order is held on its silence");

    engine.reroll_on_tick().await.unwrap();
    assert_eq!(
        rolled(),
        Vec::<String>::new(),
        "nothing changed: nothing re-rolled"
    );

    registry.heartbeat("south", now_millis()).unwrap();
    engine.reroll_on_tick().await.unwrap();
    assert_eq!(rolled(), vec![on_south.clone()], "only south's order");
    assert!(!south_unreachable(), "south heard again shows on its order");

    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}
