//! Audited changes of an order: CancelOrder (through maestro's gRPC handler) appends its audit
//! entry after the change is written and before it is committed, so that, with the log in the
//! store's database, the commit's flush makes both durable and a crash never keeps the change
//! without its entry.

use super::fault_tests::{Interference, Interfering};
use super::tests::{delivered, start};
use super::*;
use crate::api::orders::OrderApi;
use crate::fixtures::{FakeDomainClient, add};
use crate::model::{Delivery, OrderState};
use maestro_common::audit::{AuditKey, AuditLog};
use maestro_proto::order::v1 as pb;
use pb::order_service_server::OrderService;
use std::time::Duration;

#[tokio::test]
async fn a_cancellation_is_committed_after_its_audit_entry_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let db = maestro_common::durable::open(&dir.path().join("db")).unwrap();
    let key = AuditKey::load_or_generate(dir.path()).unwrap();
    let audit = AuditLog::open_in(&db, key, 1_000).unwrap();
    let store = Interfering::new(Interference::NoteCommits(audit.clone().into()));
    let client = Arc::new(FakeDomainClient::answering([]));
    let h = start(store.clone(), &client).await;
    let mut changes = store.subscribe();
    let id = h
        .engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap()
        .order
        .id;
    // Delivered: no roll-up changes the order from now on.
    tokio::time::timeout(
        Duration::from_secs(30),
        delivered(&mut changes, Delivery::Acknowledged),
    )
    .await
    .expect("delivered within 30 s");

    let logs = crate::order_logs::OrderLogs::new(
        Arc::new(crate::order_logs::TonicLogSource::new(
            crate::domain_channels::DomainChannels::new(h.engine.registry().clone(), None),
        )),
        h.engine.shutdown().clone(),
    );
    let api = OrderApi::new(
        h.engine.clone(),
        logs,
        maestro_common::access::Access::open(),
        audit.clone(),
    );
    let before = audit.head().0;
    let request = pb::CancelOrderRequest {
        id: id.clone(),
        reason: "changed my mind".into(),
    };
    let reply = api
        .cancel_order(tonic::Request::new(request))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, id);
    assert_eq!(audit.head().0, before + 1, "one entry for the call");
    let commits = store.commits.lock().unwrap().clone();
    let cancelled: Vec<_> = commits
        .iter()
        .filter(|(state, _)| *state == OrderState::Cancelled)
        .collect();
    assert_eq!(
        cancelled,
        vec![&(OrderState::Cancelled, before + 1)],
        "the cancellation is committed once, with its entry already appended: {commits:?}"
    );
    h.stop().await;
}
