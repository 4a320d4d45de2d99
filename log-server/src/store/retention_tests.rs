//! Retention against real sled files: count, bytes and age limits, protected latest statuses,
//! the bounded dedupe index and the removal horizon.

use super::*;
use crate::record::{BlueprintStatus, Body, LogLine, SiteHeartbeat};
use std::time::Duration;

fn name(s: &str) -> ResourceName {
    ResourceName::parse("name", s).unwrap()
}

fn log(site: &str, sender_sequence: u64) -> Record {
    Record {
        sequence: 0,
        domain: "d".into(),
        site: name(site),
        blueprint: Some(name("web")),
        generation: 1,
        stream: "log".into(),
        sender_sequence,
        observed_at: None,
        received_at: None,
        intent_id: "i1".into(),
        order_id: String::new(),
        body: Body::Log(LogLine {
            level: "info".into(),
            message: format!("line {sender_sequence}"),
            source: String::new(),
        }),
    }
}

fn status(site: &str, blueprint: &str, sender_sequence: u64) -> Record {
    Record {
        blueprint: Some(name(blueprint)),
        stream: "status".into(),
        body: Body::Status(BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: 1,
            total_instances: 1,
            converged: true,
            removed: false,
            status_json: "{}".into(),
            message: String::new(),
        }),
        ..log(site, sender_sequence)
    }
}

fn heartbeat(site: &str, sender_sequence: u64) -> Record {
    Record {
        blueprint: None,
        stream: "heartbeat".into(),
        body: Body::Heartbeat(SiteHeartbeat {
            blueprints: 1,
            ..SiteHeartbeat::default()
        }),
        ..log(site, sender_sequence)
    }
}

fn sequences(store: &RecordStore) -> Vec<u64> {
    store
        .scan(
            0,
            store.last_sequence(),
            &RecordFilter::default(),
            usize::MAX,
            usize::MAX,
        )
        .unwrap()
        .records
        .iter()
        .map(|r| r.sequence)
        .collect()
}

fn by_count(max: u64) -> Retention {
    Retention {
        max_records: Some(max),
        ..Retention::default()
    }
}

/// Statuses of `web` (1, 2) and `db` (3), then logs; returns the store with sequences
/// 1 = web#1, 2 = db#1, 3 = web#2, 4..=13 = log 1..=10.
async fn mixed(dir: &Path) -> RecordStore {
    let store = RecordStore::open(dir).unwrap();
    store
        .append(vec![
            status("s1", "web", 1),
            status("s1", "db", 2),
            status("s1", "web", 3),
        ])
        .await
        .unwrap();
    store
        .append((1..=10).map(|i| log("s1", i)).collect())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn by_count_removes_the_oldest_first_and_keeps_each_latest_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = mixed(dir.path()).await;
    let out = store.apply_retention(&by_count(6), 0).await.unwrap();
    // web#1 (superseded) goes first; db#1 and web#2 are latest and stay; then the oldest logs.
    assert_eq!(
        out,
        RetentionOutcome {
            removed: 7,
            protected: 2
        }
    );
    assert_eq!(sequences(&store), vec![2, 3, 10, 11, 12, 13]);
    assert_eq!(store.stored_records(), 6);
    assert_eq!(store.removed_through(), 9);
    // Within the limit: nothing more to do.
    let out = store.apply_retention(&by_count(6), 0).await.unwrap();
    assert_eq!(out, RetentionOutcome::default());
}

#[tokio::test]
async fn latest_statuses_are_kept_even_beyond_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = mixed(dir.path()).await;
    let out = store.apply_retention(&by_count(0), 0).await.unwrap();
    assert_eq!(out.removed, 11);
    assert_eq!(sequences(&store), vec![2, 3]);
    let web = store.latest_status(&name("s1"), &name("web")).unwrap();
    assert_eq!(web.map(|r| r.sender_sequence), Some(3));
}

#[tokio::test]
async fn by_bytes_removes_the_oldest_until_the_rest_fits() {
    let dir = tempfile::tempdir().unwrap();
    let store = mixed(dir.path()).await;
    let sizes: Vec<u64> = (1..=13)
        .map(|seq| proto::Record::from(store.get(seq).unwrap().unwrap()).encoded_len() as u64)
        .collect();
    assert_eq!(store.stored_bytes(), sizes.iter().sum::<u64>());
    // Room for the two latest statuses and the last four logs.
    let budget = sizes[1] + sizes[2] + sizes[9..].iter().sum::<u64>();
    let policy = Retention {
        max_bytes: Some(budget),
        ..Retention::default()
    };
    let out = store.apply_retention(&policy, 0).await.unwrap();
    assert_eq!(out.removed, 7);
    assert_eq!(sequences(&store), vec![2, 3, 10, 11, 12, 13]);
    assert_eq!(store.stored_bytes(), budget);
    // One byte less and the oldest unprotected record goes too.
    let tighter = Retention {
        max_bytes: Some(budget - 1),
        ..Retention::default()
    };
    store.apply_retention(&tighter, 0).await.unwrap();
    assert_eq!(sequences(&store), vec![2, 3, 11, 12, 13]);
}

#[tokio::test]
async fn by_age_removes_records_received_before_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .append(vec![status("s1", "web", 1), log("s1", 1), log("s1", 2)])
        .await
        .unwrap();
    let received = |seq: u64| {
        maestro_common::time::millis(store.get(seq).unwrap().unwrap().received_at.as_ref())
    };
    let old = received(3);
    // Append heartbeats until the wall clock has moved on by at least a millisecond.
    let mut hb = 0;
    loop {
        hb += 1;
        store.append(vec![heartbeat("s1", hb)]).await.unwrap();
        if received(store.last_sequence()) > old {
            break;
        }
    }
    let fresh = store.last_sequence();
    // Everything received before the newest heartbeat is too old at `now` with max_age 10 s.
    let now = received(fresh) + 10_000;
    let policy = Retention {
        max_age: Some(Duration::from_secs(10)),
        ..Retention::default()
    };
    let out = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(out.protected, 1);
    let left = sequences(&store);
    assert_eq!(left.first(), Some(&1), "the latest status stays");
    assert!(!left.contains(&2) && !left.contains(&3), "{left:?}");
    assert_eq!(
        left.last(),
        Some(&fresh),
        "the newest record is not due yet"
    );
    assert!(
        left.windows(2).all(|w| w[0] < w[1])
            && left[1..].iter().all(|&s| received(s) >= now - 10_000),
        "only records received at or after the cutoff remain: {left:?}"
    );
}

#[tokio::test]
async fn limits_combine_and_any_of_them_makes_a_record_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = mixed(dir.path()).await;
    let policy = Retention {
        max_records: Some(12),
        max_bytes: Some(u64::MAX),
        max_age: Some(Duration::from_secs(3600)),
    };
    let out = store
        .apply_retention(&policy, maestro_common::time::now_millis())
        .await
        .unwrap();
    assert_eq!(out.removed, 1, "only the count limit is exceeded, by one");
    assert_eq!(sequences(&store)[..3], [2, 3, 4]);
}

#[tokio::test]
async fn removed_records_resent_in_their_original_batch_are_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let batch: Vec<Record> = (1..=10).map(|i| log("s1", i)).collect();
    store.append(batch.clone()).await.unwrap();
    // Retention cuts through the batch while its acknowledgement is lost.
    store.apply_retention(&by_count(5), 0).await.unwrap();
    assert_eq!(sequences(&store), vec![6, 7, 8, 9, 10]);
    let out = store.append(batch).await.unwrap();
    assert_eq!((out.accepted, out.duplicates), (0, 10));
    assert_eq!(
        out.last_sequence, 10,
        "retained duplicates still report their sequence"
    );
    // The dedupe index now holds a floor plus the entries of the stored records only.
    assert_eq!(store.dedupe.len(), 1 + 5);
    // The stream goes on.
    let out = store.append(vec![log("s1", 11)]).await.unwrap();
    assert_eq!((out.accepted, out.last_sequence), (1, 11));
}

#[tokio::test]
async fn the_dedupe_index_stays_bounded_behind_an_old_protected_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    // `db` reported once long ago; `web` keeps reporting on the same stream.
    store.append(vec![status("s1", "db", 1)]).await.unwrap();
    for round in 0..5u64 {
        let batch = (0..100).map(|i| status("s1", "web", 2 + round * 100 + i));
        store.append(batch.collect()).await.unwrap();
        store.apply_retention(&by_count(10), 0).await.unwrap();
    }
    assert_eq!(store.stored_records(), 10);
    // Stored records, plus one floor; the removed statuses left no entries behind although
    // `db`'s status (sender sequence 1) is the oldest kept record of the stream.
    assert_eq!(store.dedupe.len(), 10 + 1);
    assert_eq!(
        store
            .latest_status(&name("s1"), &name("db"))
            .unwrap()
            .map(|r| r.sequence),
        Some(1)
    );
    // Every removed status is still recognised.
    let resend: Vec<Record> = (2..=493).map(|q| status("s1", "web", q)).collect();
    let out = store.append(resend).await.unwrap();
    assert_eq!((out.accepted, out.duplicates), (0, 492));
}

#[tokio::test]
async fn the_newest_entry_of_a_stream_survives_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .append(vec![log("s1", 1), log("s1", 2), heartbeat("s1", 1)])
        .await
        .unwrap();
    store.append(vec![log("s2", 1)]).await.unwrap();
    store.apply_retention(&by_count(0), 0).await.unwrap();
    assert!(store.is_empty());
    // Newest entries of (s1, log), (s1, heartbeat), (s2, log) and the floor of (s1, log).
    assert_eq!(store.dedupe.len(), 4);
    let out = store
        .append(vec![
            log("s1", 1),
            log("s1", 2),
            heartbeat("s1", 1),
            log("s2", 1),
        ])
        .await
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (0, 4));
}

#[tokio::test]
async fn totals_and_the_removal_horizon_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (records, bytes) = {
        let store = mixed(dir.path()).await;
        store.apply_retention(&by_count(8), 0).await.unwrap();
        assert_eq!(store.removed_through(), 7);
        (store.stored_records(), store.stored_bytes())
    };
    let store = RecordStore::open(dir.path()).unwrap();
    assert_eq!(store.removed_through(), 7);
    assert_eq!(store.stored_records(), records);
    assert_eq!(store.stored_bytes(), bytes);
    assert_eq!(store.len() as u64, records);
    // Dedupe of removed records survives too.
    let out = store.append(vec![log("s1", 2)]).await.unwrap();
    assert_eq!(out.duplicates, 1);
}

#[tokio::test]
async fn retention_walks_more_than_one_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store.append(vec![status("s1", "web", 1)]).await.unwrap();
    for part in 0..3u64 {
        let batch = (1..=1000).map(|i| log("s1", part * 1000 + i));
        store.append(batch.collect()).await.unwrap();
    }
    let out = store.apply_retention(&by_count(2), 0).await.unwrap();
    assert_eq!(
        out,
        RetentionOutcome {
            removed: 2999,
            protected: 1
        }
    );
    assert_eq!(sequences(&store), vec![1, 3001]);
}
