//! The [`OrderStore`] contract, run against the sled store (on a real sled database) and the
//! in-memory fake, so the fake the logic tests use behaves like the real thing.

use super::*;
use crate::fixtures::{add, catalog, domain};
use crate::model::ServiceState;
use crate::plan::{CurrentState, Decision, Fresh, plan};
use crate::request::NewOrder;

/// Plans `new` against what `store` holds now.
fn planned(store: &dyn OrderStore, new: &NewOrder, order_id: &str) -> OrderPlan {
    let names: Vec<&str> = new.items.iter().map(|i| i.service_name.as_str()).collect();
    let inventory = store.inventory(&names).unwrap();
    let domains = [domain("north", &["n1"])];
    let catalog = crate::offers::Offers::from(catalog());
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
    match plan(new, state, &fresh).unwrap() {
        Decision::Create(p) => p,
        Decision::Existing(o) => panic!("unexpected existing order {}", o.id),
    }
}

fn status(intent_id: &str, generation: u64) -> IntentStatus {
    IntentStatus {
        intent_id: intent_id.into(),
        domain: "north".into(),
        generation,
        observed_generation: generation,
        state: ServiceState::Active,
        ready: 1,
        total: 1,
        sites: vec![],
        reasons: vec![],
        updated_at_ms: 1,
        withheld: Vec::new(),
    }
}

async fn creates_once_per_key_and_refuses_stale_plans(store: &dyn OrderStore) {
    let mut changes = store.subscribe();
    let first = planned(store, &add("k1", "web", &["north"]), "o-1");
    let racing = planned(store, &add("k1", "web", &["north"]), "o-2");
    let stale = planned(store, &add("k2", "web", &["north"]), "o-3");
    assert_eq!(
        store.create(&first).await.unwrap(),
        Persisted::Created(first.order.clone())
    );
    assert_eq!(changes.try_recv().unwrap().order_id, "o-1");
    assert_eq!(
        store.create(&racing).await.unwrap(),
        Persisted::KeyTaken(crate::idempotency::KeyedOrder {
            order: first.order.clone(),
            request_hash: Some(first.request_hash.clone()),
        }),
        "the key names the first order"
    );
    assert_eq!(store.create(&stale).await.unwrap(), Persisted::Stale);
    assert!(changes.try_recv().is_err(), "nothing else was stored");
    assert_eq!(store.find_by_key("k1").unwrap().unwrap().order.id, "o-1");
    assert!(store.find_by_key("k2").unwrap().is_none());
    assert!(store.get("o-3").unwrap().is_none());
    assert_eq!(
        store.inventory(&["web", "db"]).unwrap()["web"].order_id,
        "o-1"
    );
    assert_eq!(store.outbox().unwrap(), first.outbox);
    assert_eq!(store.open_orders().unwrap(), ["o-1"]);
    let intent = &first.outbox[0].intent.id;
    assert_eq!(store.orders_for_intent(intent).unwrap(), ["o-1"]);
}

async fn an_entry_leaves_the_outbox_only_with_its_recorded_outcome(store: &dyn OrderStore) {
    let p = planned(store, &add("k1", "web", &["north"]), "o-1");
    store.create(&p).await.unwrap();
    let key = p.outbox[0].clone();
    let same = store.update("o-1", &[], &Clone::clone).await.unwrap();
    assert_eq!(
        same.unwrap().revision,
        1,
        "an unchanged order is not rewritten"
    );
    assert_eq!(store.outbox().unwrap().len(), 1);
    let mut changes = store.subscribe();
    let done = |o: &Order| {
        let mut o = o.clone();
        o.state = OrderState::Completed;
        o.revision += 1;
        o
    };
    let stored = store
        .update("o-1", std::slice::from_ref(&key), &done)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revision, 2);
    assert_eq!(*changes.try_recv().unwrap().order, stored);
    assert!(store.outbox().unwrap().is_empty());
    assert!(
        store.open_orders().unwrap().is_empty(),
        "final orders are not open"
    );
    assert!(
        store
            .orders_for_intent(&p.outbox[0].intent.id)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .update("nope", &[], &Clone::clone)
            .await
            .unwrap()
            .is_none()
    );
}

async fn lists_newest_first_in_pages(store: &dyn OrderStore) {
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let p = planned(
            store,
            &add(&format!("k{i}"), name, &["north"]),
            &format!("o-{i}"),
        );
        store.create(&p).await.unwrap();
    }
    let (page, token) = store.list(2, "", None, &mut |_| true).unwrap();
    let ids: Vec<_> = page.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["o-2", "o-1"]);
    let (page, end) = store.list(2, &token, None, &mut |_| true).unwrap();
    assert_eq!(page[0].id, "o-0");
    assert!(end.is_empty());
    assert!(
        store
            .list(2, "", Some(OrderState::Completed), &mut |_| true)
            .unwrap()
            .0
            .is_empty()
    );
    assert!(matches!(
        store.list(2, "x", None, &mut |_| true),
        Err(OrderError::Invalid(_))
    ));
}

async fn a_page_ends_where_fits_refuses_and_the_next_goes_on_from_there(store: &dyn OrderStore) {
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let p = planned(
            store,
            &add(&format!("k{i}"), name, &["north"]),
            &format!("o-{i}"),
        );
        store.create(&p).await.unwrap();
    }
    // Room for one order per page; the first of a page is taken whatever `fits` says.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let mut room = 1;
        let mut fits = |_: &Order| {
            room -= 1;
            room >= 0
        };
        let (page, next) = store.list(10, &token, None, &mut fits).unwrap();
        assert_eq!(page.len(), 1, "one order per page: {page:?}");
        seen.push(page[0].id.clone());
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(seen, ["o-2", "o-1", "o-0"]);
    let (page, _) = store.list(10, "", None, &mut |_| false).unwrap();
    assert_eq!(
        page.len(),
        1,
        "a page never comes back empty while orders remain"
    );
}

async fn keeps_the_latest_status_per_intent(store: &dyn OrderStore) {
    let p = planned(store, &add("k1", "web", &["north"]), "o-1");
    store.create(&p).await.unwrap();
    let intent = p.outbox[0].intent.id.clone();
    assert!(store.record_status(&status(&intent, 2)).unwrap());
    assert!(
        !store.record_status(&status(&intent, 2)).unwrap(),
        "same status"
    );
    assert!(
        !store.record_status(&status(&intent, 1)).unwrap(),
        "older generation"
    );
    assert_eq!(store.statuses_for(&p.order).unwrap()[&intent].generation, 2);
}

macro_rules! contract {
    ($($case:ident),*) => {
        mod sled_store {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let db = sled::open(dir.path()).unwrap();
                    super::$case(&super::SledOrderStore::open(&db).unwrap()).await;
                }
            )*
        }
        mod memory_store {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::MemoryOrderStore::default()).await;
                }
            )*
        }
    };
}

async fn a_written_plan_is_announced_only_once_committed(store: &dyn OrderStore) {
    let mut changes = store.subscribe();
    let p = planned(store, &add("k1", "web", &["north"]), "o-1");
    let racing = planned(store, &add("k1", "web", &["north"]), "o-2");
    let written = store.write(&p).unwrap();
    assert_eq!(written, Persisted::Created(p.order.clone()));
    assert_eq!(store.find_by_key("k1").unwrap().unwrap().order, p.order);
    assert!(
        changes.try_recv().is_err(),
        "announced before it is durable"
    );
    store.commit(created_order(&written)).await.unwrap();
    assert_eq!(changes.try_recv().unwrap().order_id, "o-1");
    let taken = store.write(&racing).unwrap();
    assert!(matches!(taken, Persisted::KeyTaken(_)), "{taken:?}");
    store.commit(created_order(&taken)).await.unwrap();
    assert!(changes.try_recv().is_err(), "a taken key announces nothing");
}

async fn a_written_change_is_announced_only_once_committed(store: &dyn OrderStore) {
    let p = planned(store, &add("k1", "web", &["north"]), "o-1");
    store.create(&p).await.unwrap();
    let mut changes = store.subscribe();
    let cancel = |o: &Order| {
        let mut o = o.clone();
        o.state = OrderState::Cancelled;
        o.revision += 1;
        (o, Vec::new())
    };
    let written = store.write_change("o-1", &[], &cancel).unwrap().unwrap();
    assert!(written.changed);
    assert_eq!(
        store.get("o-1").unwrap().unwrap().state,
        OrderState::Cancelled,
        "readable once written"
    );
    assert!(store.open_orders().unwrap().is_empty(), "final: not open");
    assert!(
        changes.try_recv().is_err(),
        "announced before it is durable"
    );
    let (order, sends) = store.commit_change(written).await.unwrap();
    assert_eq!((order.state, sends.len()), (OrderState::Cancelled, 0));
    let change = changes.try_recv().unwrap();
    assert_eq!(
        (change.order_id.as_str(), change.revision),
        ("o-1", p.order.revision + 1)
    );
    // The same change again leaves the order as it is: nothing to announce.
    let unchanged = |o: &Order| (o.clone(), Vec::new());
    let written = store.write_change("o-1", &[], &unchanged).unwrap().unwrap();
    assert!(!written.changed);
    store.commit_change(written).await.unwrap();
    assert!(
        changes.try_recv().is_err(),
        "an unchanged order announces nothing"
    );
    assert!(
        store
            .write_change("o-9", &[], &unchanged)
            .unwrap()
            .is_none(),
        "no such order"
    );
}

contract!(
    creates_once_per_key_and_refuses_stale_plans,
    a_written_plan_is_announced_only_once_committed,
    a_written_change_is_announced_only_once_committed,
    an_entry_leaves_the_outbox_only_with_its_recorded_outcome,
    lists_newest_first_in_pages,
    a_page_ends_where_fits_refuses_and_the_next_goes_on_from_there,
    keeps_the_latest_status_per_intent
);

#[tokio::test]
async fn a_key_recorded_before_request_hashes_names_its_order_without_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = SledOrderStore::open(&db).unwrap();
    let p = planned(&store, &add("k1", "web", &["north"]), "o-1");
    store.create(&p).await.unwrap();
    // What the store wrote under a key before it kept hashes: the order id alone.
    db.open_tree("orders")
        .unwrap()
        .insert("idem/k1", serde_json::to_vec("o-1").unwrap())
        .unwrap();
    let keyed = store.find_by_key("k1").unwrap().unwrap();
    assert_eq!((keyed.order.id.as_str(), keyed.request_hash), ("o-1", None));
    let racing = planned(&store, &add("k1", "db", &["north"]), "o-2");
    match store.create(&racing).await.unwrap() {
        Persisted::KeyTaken(taken) => assert_eq!(taken.request_hash, None),
        other => panic!("expected the key to be taken: {other:?}"),
    }
}

#[tokio::test]
async fn the_sled_store_keeps_orders_and_the_outbox_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let p = {
        let db = sled::open(dir.path()).unwrap();
        let store = SledOrderStore::open(&db).unwrap();
        let p = planned(&store, &add("k1", "web", &["north"]), "o-1");
        store.create(&p).await.unwrap();
        p
    };
    let db = maestro_common::durable::open(dir.path()).unwrap();
    let store = SledOrderStore::open(&db).unwrap();
    let keyed = store.find_by_key("k1").unwrap().unwrap();
    assert_eq!(keyed.order, p.order);
    assert_eq!(keyed.request_hash, Some(p.request_hash));
    assert_eq!(store.outbox().unwrap(), p.outbox);
}

#[tokio::test]
async fn two_sled_stores_over_one_database_never_act_on_a_stale_decoded_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let (a, b) = (
        SledOrderStore::open(&db).unwrap(),
        SledOrderStore::open(&db).unwrap(),
    );
    let p = planned(&a, &add("k1", "web", &["north"]), "o-1");
    a.create(&p).await.unwrap();
    let noted = |text: &'static str| {
        move |o: &Order| {
            let mut o = o.clone();
            o.note(2, text.to_string());
            o.revision += 1;
            o
        }
    };
    // Each store reads (and keeps) the order, then the other one changes it.
    assert_eq!(a.get("o-1").unwrap().unwrap().revision, p.order.revision);
    assert_eq!(b.get("o-1").unwrap().unwrap().revision, p.order.revision);
    b.update("o-1", &[], &noted("by b")).await.unwrap();
    let seen_by_a = a.get("o-1").unwrap().unwrap();
    assert_eq!(seen_by_a.revision, p.order.revision + 1, "a read b's write");
    // A's change is made on b's record, not on the one a decoded first.
    let by_a = a.update("o-1", &[], &noted("by a")).await.unwrap().unwrap();
    assert_eq!(by_a.revision, p.order.revision + 2);
    assert_eq!(b.get("o-1").unwrap().unwrap(), by_a);

    let intent = p.outbox[0].intent.id.clone();
    assert!(a.record_status(&status(&intent, 2)).unwrap());
    assert_eq!(b.statuses_for(&p.order).unwrap()[&intent].generation, 2);
    assert!(b.record_status(&status(&intent, 3)).unwrap());
    assert!(
        !a.record_status(&status(&intent, 2)).unwrap(),
        "a compares with b's generation 3, not the 2 it kept"
    );
    assert_eq!(a.statuses_for(&p.order).unwrap()[&intent].generation, 3);
}
