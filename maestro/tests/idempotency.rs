//! Idempotency keys against a real maestro on loopback: the same request under a key returns
//! its order, another request under it is refused, and keys stored before request hashes were
//! kept still return their order.

mod support;

use maestro_proto::order::v1 as pb;
use pb::ItemAction;
use support::*;
use tonic::Code;

fn web(key: &str, message: &str) -> pb::CreateOrderRequest {
    order(
        key,
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("message", text(message))],
        )],
    )
}

#[tokio::test]
async fn a_key_reused_with_another_request_is_refused_naming_the_key_and_the_order() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[]).await;

    let first = m
        .orders
        .create_order(web("pay-1", "v1"))
        .await
        .unwrap()
        .into_inner();
    let id = first.order.unwrap().id;
    assert!(first.created);

    let again = m
        .orders
        .create_order(web("pay-1", "v1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created, "the same request returns the same order");
    assert_eq!(again.order.unwrap().id, id);

    let mut described = web("pay-1", "v1");
    described.order.as_mut().unwrap().description = "another order".into();
    for other in [web("pay-1", "v2"), described] {
        let e = m.orders.create_order(other).await.unwrap_err();
        assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        assert!(
            e.message().contains("idempotency_key 'pay-1'") && e.message().contains(&id),
            "{}",
            e.message()
        );
    }
    let listed = m
        .orders
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.orders.len(), 1, "nothing else was stored");
    m.stop().await;
}

#[tokio::test]
async fn a_key_stored_before_request_hashes_returns_its_order_as_before() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[]).await;
    let first = m
        .orders
        .create_order(web("old-key", "v1"))
        .await
        .unwrap()
        .into_inner();
    let id = first.order.unwrap().id;
    m.stop().await;

    // Rewrite the key's record the way maestro stored it before it kept request hashes.
    {
        let db = maestro_common::durable::open(data.path()).unwrap();
        let orders = db.open_tree("orders").unwrap();
        let record = orders
            .get("idem/old-key")
            .unwrap()
            .expect("the key is stored");
        assert_ne!(
            &record[..],
            serde_json::to_vec(&id).unwrap(),
            "stored with its hash"
        );
        orders
            .insert("idem/old-key", serde_json::to_vec(&id).unwrap())
            .unwrap();
        db.flush().unwrap();
    }

    let m = Maestro::start(data.path(), cat.path()).await;
    let mut orders = m.orders.clone();
    let again = orders
        .create_order(web("old-key", "v2"))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(
        again.order.unwrap().id,
        id,
        "no hash to compare: answered as before"
    );
    m.stop().await;
}
