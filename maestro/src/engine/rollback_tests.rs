//! `RollbackOrder`'s request: built from what each item of the order replaced.

use super::tests::start;
use crate::fixtures::{FakeDomainClient, add, item, order};
use crate::model::Action;
use crate::store::MemoryOrderStore;
use maestro_proto::order::v1 as pb;
use std::sync::Arc;

#[tokio::test(start_paused = true)]
async fn a_rollback_restores_what_each_item_replaced_and_only_the_latest_change() {
    let client = Arc::new(FakeDomainClient::answering([]));
    let h = start(Arc::new(MemoryOrderStore::default()), &client).await;
    let e = &h.engine;
    let added = e
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap()
        .order;
    let mut modify = item("1", pb::ItemAction::Modify, "web", &["north"]);
    modify.service.as_mut().unwrap().service_characteristic[0].value = Some(
        maestro_common::json::to_proto_value(&serde_json::json!("changed")),
    );
    let modified = e
        .create_order(order("k2", vec![modify]))
        .await
        .unwrap()
        .order;

    let err = e.rollback_request(&added.id, "r1").unwrap_err().to_string();
    assert!(
        err.contains(&format!("changed again by order {}", modified.id)),
        "{err}"
    );
    let back = e.rollback_request(&modified.id, "r2").unwrap();
    assert_eq!(
        back.description,
        format!("rollback of order {}", modified.id)
    );
    let it = &back.items[0];
    let was = it.pinned.as_ref().expect("the spec before the modify");
    assert_eq!((it.action, was.generation), (Action::Modify, 1));
    assert_eq!(was.order_id, added.id);

    let created = e.create_order(back.clone()).await.unwrap();
    assert!(created.created);
    let inv = e.store().inventory(&["web"]).unwrap();
    assert_eq!(inv["web"].generation, 3);
    assert_eq!(
        inv["web"].characteristics, was.characteristics,
        "generation 3 is generation 1 again"
    );
    assert_eq!(inv["web"].templates, was.templates);
    let again = e.create_order(back).await.unwrap();
    assert!(!again.created, "the same key places it once");

    let fresh = e
        .create_order(add("k3", "api", &["north"]))
        .await
        .unwrap()
        .order;
    let undo = e.rollback_request(&fresh.id, "r3").unwrap();
    assert_eq!(
        undo.items[0].action,
        Action::Delete,
        "an add is taken back by a delete"
    );
    assert!(e.rollback_request("no-such-order", "r4").is_err());
    h.stop().await;
}
