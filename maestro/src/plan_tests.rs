use super::*;
use crate::fixtures::{self, add, catalog, domain};
use crate::model::Delivery;
use maestro_proto::order::v1 as pb;

fn fresh() -> Fresh {
    Fresh {
        order_id: "o-1".into(),
        traceparent: "00-trace-span-01".into(),
        now_ms: 1_000,
    }
}

fn decide(
    new: &NewOrder,
    inventory: &BTreeMap<String, InventoryEntry>,
) -> Result<Decision, OrderError> {
    let domains = [domain("north", &["n1", "n2"]), domain("south", &["s1"])];
    let catalog = crate::offers::Offers::from(catalog());
    let state = CurrentState {
        existing: None,
        inventory,
        domains: &domains,
        catalog: &catalog,
        rollouts: &Default::default(),
        fit: &Default::default(),
    };
    plan(new, state, &fresh())
}

fn created(d: Decision) -> OrderPlan {
    match d {
        Decision::Create(p) => p,
        Decision::Existing(o) => panic!("expected a new order, got existing {}", o.id),
    }
}

#[test]
fn an_add_plans_the_order_inventory_and_one_delivery_per_domain() {
    let p = created(decide(&add("k", "web", &["north", "south"]), &BTreeMap::new()).unwrap());
    assert_eq!(p.order.id, "o-1");
    assert_eq!(p.order.state, OrderState::Acknowledged);
    assert_eq!(p.order.revision, 1);
    assert_eq!(p.order.notes[0].text, "acknowledged");
    assert_eq!(p.expected, BTreeMap::from([("web".to_string(), None)]));
    assert_eq!(p.inventory.len(), 1);
    assert_eq!(
        (p.inventory[0].generation, p.inventory[0].deleted),
        (1, false)
    );
    let domains: Vec<_> = p.outbox.iter().map(|e| e.domain.as_str()).collect();
    assert_eq!(domains, ["north", "south"]);
    let north = &p.outbox[0];
    assert_eq!(north.key(), "o-1/1/north");
    assert_eq!(
        north.intent.id,
        maestro_common::ids::intent_id("web", "north")
    );
    assert_eq!(north.intent.traceparent, "00-trace-span-01");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&north.intent.characteristics_json).unwrap(),
        serde_json::json!({"message": "hello", "replicas": 1})
    );
    let item = &p.order.items[0];
    assert_eq!(item.domains.len(), 2);
    assert!(
        item.domains
            .iter()
            .all(|d| d.delivery == Delivery::Pending && d.generation == 1)
    );
}

#[test]
fn the_idempotency_key_returns_the_existing_order_and_plans_nothing() {
    let first = created(decide(&add("k", "web", &["north"]), &BTreeMap::new()).unwrap());
    let domains = [domain("north", &[])];
    let catalog = crate::offers::Offers::from(catalog());
    let inventory = BTreeMap::new();
    let state = CurrentState {
        existing: Some(&first.order),
        inventory: &inventory,
        domains: &domains,
        catalog: &catalog,
        rollouts: &Default::default(),
        fit: &Default::default(),
    };
    assert_eq!(
        plan(&add("k", "web", &["north"]), state, &fresh()).unwrap(),
        Decision::Existing(first.order.clone())
    );
}

#[test]
fn modify_and_delete_continue_the_generation_and_delete_goes_where_the_service_runs() {
    let first = created(decide(&add("k1", "web", &["north"]), &BTreeMap::new()).unwrap());
    let mut inventory = BTreeMap::from([("web".to_string(), first.inventory[0].clone())]);
    let modify = fixtures::order(
        "k2",
        vec![fixtures::item("1", pb::ItemAction::Modify, "web", &[])],
    );
    let p = created(decide(&modify, &inventory).unwrap());
    assert_eq!(p.expected["web"], Some(1));
    assert_eq!(p.inventory[0].generation, 2);
    assert_eq!(p.outbox[0].domain, "north", "placement inherited");
    inventory.insert("web".into(), p.inventory[0].clone());
    let delete = fixtures::order(
        "k3",
        vec![fixtures::item(
            "1",
            pb::ItemAction::Delete,
            "web",
            &["south"],
        )],
    );
    let p = created(decide(&delete, &inventory).unwrap());
    assert_eq!(
        (p.inventory[0].generation, p.inventory[0].deleted),
        (3, true)
    );
    assert!(p.outbox[0].intent.deleted);
    assert_eq!(p.outbox[0].domain, "north");
    assert!(p.outbox[0].intent.blueprint_templates_json.is_empty());
}

#[test]
fn a_service_that_moves_is_deleted_where_it_leaves_and_the_item_does_not_wait_for_it() {
    let first = created(decide(&add("k1", "web", &["north"]), &BTreeMap::new()).unwrap());
    let inventory = BTreeMap::from([("web".to_string(), first.inventory[0].clone())]);
    let moved = fixtures::order(
        "k2",
        vec![fixtures::item(
            "1",
            pb::ItemAction::Modify,
            "web",
            &["south"],
        )],
    );
    let p = created(decide(&moved, &inventory).unwrap());
    let sent: Vec<(&str, bool, u64)> = p
        .outbox
        .iter()
        .map(|e| (e.domain.as_str(), e.intent.deleted, e.intent.generation))
        .collect();
    assert_eq!(sent, [("south", false, 2), ("north", true, 2)]);
    let leaving: Vec<(&str, bool)> = p.order.items[0]
        .domains
        .iter()
        .map(|d| (d.domain.as_str(), d.leaving))
        .collect();
    assert_eq!(leaving, [("south", false), ("north", true)]);
    assert_eq!(p.inventory[0].targets.len(), 1, "it runs in south only");
}

#[test]
fn rejections_store_nothing_and_say_why() {
    let first = created(decide(&add("k1", "web", &["north"]), &BTreeMap::new()).unwrap());
    let inventory = BTreeMap::from([("web".to_string(), first.inventory[0].clone())]);
    assert!(matches!(
        decide(&add("k2", "web", &["north"]), &inventory),
        Err(OrderError::AlreadyExists(_))
    ));
    let modify = fixtures::order(
        "k3",
        vec![fixtures::item(
            "1",
            pb::ItemAction::Modify,
            "db",
            &["north"],
        )],
    );
    assert!(matches!(
        decide(&modify, &BTreeMap::new()),
        Err(OrderError::FailedPrecondition(_))
    ));
    match decide(&add("k4", "db", &["east"]), &BTreeMap::new()) {
        Err(OrderError::Invalid(e)) => assert_eq!(e.field, "order.items[0].placement.domains[0]"),
        other => panic!("{other:?}"),
    }
}
