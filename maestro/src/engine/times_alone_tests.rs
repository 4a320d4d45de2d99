//! A roll-up whose only news is newer times waits ([`crate::times_alone`]); a status with any
//! other news is rolled in at once, with the latest times.

use super::tests::unstarted;
use crate::fixtures::{FakeDomainClient, add};
use crate::intent::IntentStatus;
use crate::model::{Order, ServiceState, SiteProgress};
use crate::store::{MemoryOrderStore, OrderStore};
use crate::times_alone::TIMES_EVERY_MS;
use maestro_common::time::now_millis;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The status of intent `id` on north, its site n1 `ready` (of 1), produced, heard and observed at `at`.
fn status(id: &str, ready: u32, at: i64) -> IntentStatus {
    IntentStatus {
        intent_id: id.to_string(),
        domain: "north".into(),
        generation: 1,
        observed_generation: 1,
        state: if ready == 1 {
            ServiceState::Active
        } else {
            ServiceState::Reserved
        },
        ready,
        total: 1,
        sites: vec![SiteProgress {
            site: "n1".into(),
            ready,
            total: 1,
            observed_generation: 1,
            last_heard_ms: at,
            observed_at_ms: at,
            ..Default::default()
        }],
        reasons: vec![],
        updated_at_ms: at,
        withheld: Vec::new(),
    }
}

/// When order `order` shows north and its site n1 last heard, and when n1 observed its status.
fn times(order: &Order) -> (i64, i64, i64) {
    let dp = &order.items[0].domains[0];
    let n1 = &dp.site_progress[0];
    (dp.last_heard_ms, n1.last_heard_ms, n1.observed_at_ms)
}

#[tokio::test]
async fn times_alone_are_taken_in_once_a_while_and_with_any_other_change_at_once() {
    let store: Arc<dyn OrderStore> = Arc::new(MemoryOrderStore::default());
    let client = Arc::new(FakeDomainClient::answering([]));
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let (engine, _reports) = unstarted(&store, &client, &shutdown, &tasks).await;
    let id = engine
        .create_order(add("k1", "web", &["north"]))
        .await
        .unwrap()
        .order
        .id;
    let intent = store.get(&id).unwrap().unwrap().items[0].domains[0]
        .intent_id
        .clone();
    let roll = |st: IntentStatus| {
        let (engine, store, id) = (engine.clone(), store.clone(), id.clone());
        async move {
            assert!(store.record_status(&st).unwrap(), "a status with news");
            engine.reroll(&id, &[], |_| {}).await.unwrap().unwrap()
        }
    };

    let t0 = now_millis() - 2_000;
    let first = roll(status(&intent, 0, t0)).await;
    assert_eq!(times(&first), (t0, t0, t0), "the first status is rolled in");
    assert!(first.rolled_at_ms >= t0, "and when it was, noted");

    let refreshed = roll(status(&intent, 0, t0 + 1_000)).await;
    assert_eq!(
        (refreshed.revision, times(&refreshed)),
        (first.revision, (t0, t0, t0)),
        "newer times alone wait: no new revision"
    );

    // The order changed a while ago: the next refresh is taken.
    let earlier = store
        .write_change(&id, &[], &|o| {
            let mut o = o.clone();
            o.rolled_at_ms -= TIMES_EVERY_MS;
            (o, Vec::new())
        })
        .unwrap()
        .unwrap();
    store.commit_change(earlier).await.unwrap();
    let due = roll(status(&intent, 0, t0 + 1_500)).await;
    assert_eq!(
        (due.revision, times(&due)),
        (first.revision + 1, (t0 + 1_500, t0 + 1_500, t0 + 1_500)),
        "times taken in once due"
    );

    let held = roll(status(&intent, 0, t0 + 1_800)).await;
    assert_eq!(held.revision, due.revision, "held back again");
    let ready = roll(status(&intent, 1, t0 + 1_900)).await;
    assert_eq!(
        (ready.revision, ready.items[0].domains[0].ready),
        (due.revision + 1, 1),
        "a change of the counts is taken in at once"
    );
    assert_eq!(
        times(&ready),
        (t0 + 1_900, t0 + 1_900, t0 + 1_900),
        "with its times"
    );

    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}
