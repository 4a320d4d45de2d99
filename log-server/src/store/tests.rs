//! Unit tests of `RecordStore` against real sled files in a temp dir.

use super::*;
use crate::record::{BlueprintStatus, Body, LogLine, SiteHeartbeat};
use std::time::Duration;

fn name(s: &str) -> ResourceName {
    ResourceName::parse("name", s).unwrap()
}

fn log(site: &str, sender_sequence: u64, intent: &str) -> Record {
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
        intent_id: intent.into(),
        order_id: String::new(),
        body: Body::Log(LogLine {
            level: "info".into(),
            message: format!("line {sender_sequence}"),
            source: String::new(),
        }),
    }
}

fn status(site: &str, blueprint: &str, sender_sequence: u64, converged: bool) -> Record {
    Record {
        blueprint: Some(name(blueprint)),
        stream: "status".into(),
        body: Body::Status(BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: 1,
            total_instances: 1,
            converged,
            removed: false,
            status_json: "{}".into(),
            message: String::new(),
        }),
        ..log(site, sender_sequence, "i1")
    }
}

fn all(store: &RecordStore) -> Vec<Record> {
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
}

#[tokio::test]
async fn append_assigns_consecutive_sequences_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let out = store
        .append(vec![
            log("s1", 1, "i1"),
            log("s1", 2, "i1"),
            log("s2", 1, "i1"),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 3,
            duplicates: 0,
            last_sequence: 3
        }
    );
    assert_eq!(store.last_sequence(), 3);
    let got = all(&store);
    assert_eq!(
        got.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        got.iter().map(|r| r.site.as_str()).collect::<Vec<_>>(),
        vec!["s1", "s1", "s2"]
    );
    assert!(got.iter().all(|r| r.received_at.is_some()));
}

#[tokio::test]
async fn duplicates_are_counted_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .append(vec![log("s1", 1, "i1"), log("s1", 2, "i1")])
        .await
        .unwrap();
    let out = store
        .append(vec![log("s1", 2, "i1"), log("s1", 3, "i1")])
        .await
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_sequence: 3
        }
    );
    // A duplicate inside one batch is recognised too.
    let out = store
        .append(vec![log("s1", 4, "i1"), log("s1", 4, "i1")])
        .await
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_sequence: 4
        }
    );
    // Same sender sequence on another stream or site is a different record.
    let mut other_stream = log("s1", 1, "i1");
    other_stream.stream = "other".into();
    let out = store
        .append(vec![other_stream, log("s2", 1, "i1")])
        .await
        .unwrap();
    assert_eq!(out.accepted, 2);
    assert_eq!(store.len(), 6);
}

#[tokio::test]
async fn all_duplicate_batch_reports_the_original_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .append(vec![log("s1", 1, "i1"), log("s1", 2, "i1")])
        .await
        .unwrap();
    let out = store.append(vec![log("s1", 1, "i1")]).await.unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 0,
            duplicates: 1,
            last_sequence: 1
        }
    );
    assert_eq!(store.last_sequence(), 2);
}

#[tokio::test]
async fn sequence_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RecordStore::open(dir.path()).unwrap();
        store
            .append(vec![log("s1", 1, "i1"), log("s1", 2, "i1")])
            .await
            .unwrap();
    }
    let store = RecordStore::open(dir.path()).unwrap();
    assert_eq!(store.last_sequence(), 2);
    let out = store
        .append(vec![log("s1", 2, "i1"), log("s1", 3, "i1")])
        .await
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_sequence: 3
        }
    );
    assert_eq!(all(&store).len(), 3);
}

#[tokio::test]
async fn watch_publishes_the_durable_high_water_mark() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let mut rx = store.watch();
    assert_eq!(*rx.borrow_and_update(), 0);
    store.append(vec![log("s1", 1, "i1")]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*rx.borrow(), 1);
}

#[tokio::test]
async fn scan_filters_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let batch: Vec<_> = (1..=10)
        .map(|i| log("s1", i, if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
    store.append(batch).await.unwrap();
    let even = RecordFilter {
        intent_ids: vec!["even".into()],
        ..Default::default()
    };
    let page = store.scan(0, 10, &even, 2, usize::MAX).unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        vec![2, 4]
    );
    assert!(!page.exhausted);
    let page = store
        .scan(page.scanned_through, 10, &even, 100, usize::MAX)
        .unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        vec![6, 8, 10]
    );
    assert!(page.exhausted);
    assert_eq!(page.scanned_through, 10);
    // The scan budget bounds work even when nothing matches.
    let none = RecordFilter {
        intent_ids: vec!["nope".into()],
        ..Default::default()
    };
    let page = store.scan(0, 10, &none, 100, 3).unwrap();
    assert!(page.records.is_empty());
    assert_eq!(page.scanned_through, 3);
    assert!(!page.exhausted);
    // `upto` bounds the scan.
    let page = store
        .scan(0, 4, &RecordFilter::default(), 100, 100)
        .unwrap();
    assert_eq!(page.records.len(), 4);
}

#[tokio::test]
async fn latest_status_follows_the_highest_sender_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .append(vec![
            status("s1", "web", 2, false),
            status("s1", "db", 3, true),
        ])
        .await
        .unwrap();
    store
        .append(vec![status("s1", "web", 5, true)])
        .await
        .unwrap();
    // An older status arriving late does not replace the newer one.
    store
        .append(vec![status("s1", "web", 4, false)])
        .await
        .unwrap();
    let web = store
        .latest_status(&name("s1"), &name("web"))
        .unwrap()
        .unwrap();
    assert_eq!((web.sender_sequence, web.sequence), (5, 3));
    let db = store
        .latest_status(&name("s1"), &name("db"))
        .unwrap()
        .unwrap();
    assert_eq!(db.sender_sequence, 3);
    assert!(
        store
            .latest_status(&name("s2"), &name("web"))
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn retention_by_count_keeps_latest_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let mut batch = vec![status("s1", "web", 1, true)];
    batch.extend((1..=9).map(|i| log("s1", i, "i1")));
    store.append(batch).await.unwrap();
    let out = store
        .apply_retention(
            &Retention {
                max_records: Some(3),
                max_bytes: None,
                max_age: None,
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        RetentionOutcome {
            removed: 7,
            protected: 1
        }
    );
    let left: Vec<u64> = all(&store).iter().map(|r| r.sequence).collect();
    assert_eq!(left, vec![1, 9, 10]);
    // Sequences continue and removed records are still recognised as duplicates.
    let out = store
        .append(vec![log("s1", 2, "i1"), log("s1", 10, "i1")])
        .await
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 1,
            duplicates: 1,
            last_sequence: 11
        }
    );
}

#[tokio::test]
async fn retention_by_age_keeps_latest_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .append(vec![
            status("s1", "web", 1, true),
            log("s1", 1, "i1"),
            log("s1", 2, "i1"),
        ])
        .await
        .unwrap();
    let later = maestro_common::time::now_millis() + 60_000;
    let policy = Retention {
        max_records: None,
        max_bytes: None,
        max_age: Some(Duration::from_secs(30)),
    };
    let out = store.apply_retention(&policy, later).await.unwrap();
    assert_eq!(
        out,
        RetentionOutcome {
            removed: 2,
            protected: 1
        }
    );
    assert_eq!(
        all(&store).iter().map(|r| r.sequence).collect::<Vec<_>>(),
        vec![1]
    );
    // Nothing is due at the present time.
    store.append(vec![log("s1", 3, "i1")]).await.unwrap();
    let out = store
        .apply_retention(&policy, maestro_common::time::now_millis())
        .await
        .unwrap();
    assert_eq!(out.removed, 0);
}

#[tokio::test]
async fn heartbeats_have_no_status_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let hb = Record {
        blueprint: None,
        stream: "heartbeat".into(),
        body: Body::Heartbeat(SiteHeartbeat {
            blueprints: 2,
            ..SiteHeartbeat::default()
        }),
        ..log("s1", 1, "")
    };
    store.append(vec![hb.clone()]).await.unwrap();
    let got = store.get(1).unwrap().unwrap();
    assert_eq!(got.body, hb.body);
    assert_eq!(got.blueprint, None);
    assert!(store.latest.is_empty());
}

#[tokio::test]
async fn pages_are_bounded_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let big = |i: u64| {
        let mut r = log("s1", i, "i1");
        r.body = Body::Log(LogLine {
            level: "info".into(),
            message: "x".repeat(60_000),
            source: String::new(),
        });
        r
    };
    store.append((1..=60).map(big).collect()).await.unwrap();
    let (first, next) = store.page(&RecordFilter::default(), 0, 1000).unwrap();
    assert!(first.len() < 60 && !first.is_empty(), "{}", first.len());
    assert_eq!(next, first.last().unwrap().sequence);
    let (rest, next) = store.page(&RecordFilter::default(), next, 1000).unwrap();
    assert_eq!(first.len() + rest.len(), 60);
    assert_eq!(next, 0);
}

#[tokio::test]
async fn concurrent_appends_get_unique_contiguous_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(RecordStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let site = format!("s{t}");
                for i in 0..5 {
                    store
                        .append(vec![
                            log(&site, i * 2 + 1, "i1"),
                            log(&site, i * 2 + 2, "i1"),
                        ])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.last_sequence(), 80);
    let got = all(&store);
    assert_eq!(
        got.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        (1..=80).collect::<Vec<_>>()
    );
    // Each sender's records keep their order.
    for t in 0..8 {
        let site = format!("s{t}");
        let mine: Vec<u64> = got
            .iter()
            .filter(|r| r.site.as_str() == site)
            .map(|r| r.sender_sequence)
            .collect();
        assert_eq!(mine, (1..=10).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn closed_resolves_once_dropped_and_the_directory_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store.append(vec![log("s1", 1, "i1")]).await.unwrap();
    let closed = store.closed();
    // While open, the directory is locked.
    assert!(sled::open(dir.path()).is_err());
    drop(store);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("closed after drop");
    let store = RecordStore::open(dir.path()).unwrap();
    assert_eq!(store.last_sequence(), 1);
}
