//! The outbox against a real sled database.

use super::*;

fn rec(stream: &str, text: &str) -> Record {
    let body = match stream {
        LOG_STREAM => record::Body::Log(LogLine {
            message: text.to_string(),
            ..LogLine::default()
        }),
        HEARTBEAT_STREAM => record::Body::Heartbeat(maestro_proto::logs::v1::SiteHeartbeat {
            blueprints: 1,
            ..Default::default()
        }),
        _ => record::Body::Status(maestro_proto::logs::v1::BlueprintStatus {
            message: text.to_string(),
            ..Default::default()
        }),
    };
    Record {
        stream: stream.to_string(),
        blueprint: text.to_string(),
        body: Some(body),
        ..Record::default()
    }
}

/// Every stored record, oldest first, as `stream:text` (`log:!N` for the dropped marker).
fn contents(o: &Outbox) -> Vec<String> {
    o.records
        .iter()
        .map(|item| {
            let r = Record::decode(item.unwrap().1.as_ref()).unwrap();
            match r.body {
                Some(record::Body::Log(l)) if l.source == DROPPED_SOURCE => {
                    let n = l.message.split(' ').nth(1).unwrap();
                    assert_eq!(l.message, dropped_message(n.parse().unwrap()));
                    format!("log:!{n}")
                }
                _ => format!("{}:{}", r.stream, r.blueprint),
            }
        })
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn open(dir: &tempfile::TempDir, max: usize) -> (sled::Db, Outbox) {
    let db = sled::open(dir.path()).unwrap();
    let o = Outbox::open_bounded(&db, "d", "s", max).unwrap();
    (db, o)
}

#[tokio::test]
async fn sequences_are_per_stream_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, o) = open(&dir, DEFAULT_MAX_RECORDS);
        assert_eq!(o.append(rec("log", "a")).unwrap(), 1);
        assert_eq!(o.append(rec("status", "b")).unwrap(), 1);
        assert_eq!(o.append(rec("log", "c")).unwrap(), 2);
        let batch = o.peek().unwrap();
        assert_eq!(batch.len(), 3);
        o.ack(&[batch[0].0.clone()]).unwrap();
        db.flush().unwrap();
    }
    // sled may hold its lock a moment after the last handle is dropped.
    let db = crate::agent::open_db(dir.path()).await.unwrap();
    let o = Outbox::open(&db, "d", "s").unwrap();
    assert_eq!(o.len(), 2);
    let batch = o.peek().unwrap();
    let seqs: Vec<_> = batch
        .iter()
        .map(|(_, r)| (r.stream.clone(), r.sender_sequence))
        .collect();
    assert_eq!(
        seqs,
        vec![("status".to_string(), 1), ("log".to_string(), 2)]
    );
    assert_eq!(batch[0].1.site, "s");
    assert_eq!(o.append(rec("log", "d")).unwrap(), 3);
}

#[test]
fn full_outbox_drops_oldest_logs_and_counts_them_in_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 5);
    for r in [
        rec("status", "s1"),
        rec("log", "l1"),
        rec("log", "l2"),
        rec("status", "s2"),
        rec("log", "l3"),
    ] {
        o.append(r).unwrap();
    }
    assert_eq!(o.len(), 5);
    // One over: two logs make room for the new record and the marker.
    o.append(rec("log", "l4")).unwrap();
    assert_eq!(
        contents(&o),
        strs(&["status:s1", "status:s2", "log:l3", "log:l4", "log:!2"])
    );
    // The marker is rewritten in place with the accumulated count.
    o.append(rec("log", "l5")).unwrap();
    o.append(rec("status", "s3")).unwrap();
    assert_eq!(
        contents(&o),
        strs(&["status:s1", "status:s2", "log:!4", "log:l5", "status:s3"])
    );
    assert_eq!(o.len(), 5);
    // The marker keeps its sender_sequence; log sequences have gaps where records were dropped.
    let logs: Vec<u64> = o
        .peek()
        .unwrap()
        .into_iter()
        .filter(|(_, r)| r.stream == "log")
        .map(|(_, r)| r.sender_sequence)
        .collect();
    assert_eq!(logs, vec![5, 6]);
}

#[test]
fn status_records_are_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 3);
    o.append(rec("log", "l1")).unwrap();
    for i in 1..=5 {
        o.append(rec("status", &format!("s{i}"))).unwrap();
    }
    // The one log record is not worth a marker; the statuses exceed the bound rather than go.
    assert_eq!(o.len(), 6);
    assert_eq!(
        contents(&o),
        strs(&[
            "log:l1",
            "status:s1",
            "status:s2",
            "status:s3",
            "status:s4",
            "status:s5"
        ])
    );
    o.append(rec("log", "l2")).unwrap();
    assert_eq!(
        contents(&o)
            .iter()
            .filter(|s| s.starts_with("status"))
            .count(),
        5
    );
    assert_eq!(contents(&o).last().unwrap(), "log:!2");
}

#[test]
fn only_the_newest_pending_heartbeat_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 100);
    o.append(rec("heartbeat", "")).unwrap();
    o.append(rec("status", "s1")).unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    assert_eq!(o.append(rec("heartbeat", "")).unwrap(), 3);
    assert_eq!(contents(&o), strs(&["status:s1", "heartbeat:"]));
    assert_eq!(o.len(), 2);
    // A heartbeat in flight stays; the next one is kept beside it.
    let batch = o.peek().unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    assert_eq!(o.len(), 3);
    o.ack(&batch.into_iter().map(|(k, _)| k).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(contents(&o), strs(&["heartbeat:"]));
    assert_eq!(o.len(), 1);
}

#[test]
fn failed_pushes_do_not_pile_heartbeats_up() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 100);
    o.append(rec("heartbeat", "")).unwrap();
    // Each round: a push takes everything in flight, a heartbeat arrives, the push fails.
    for _ in 0..5 {
        let _batch = o.peek().unwrap();
        o.append(rec("heartbeat", "")).unwrap();
        o.release();
    }
    assert_eq!(
        contents(&o),
        strs(&["heartbeat:"]),
        "one heartbeat, not six"
    );
    assert_eq!(o.len(), 1);
    // While a push is in flight: the one in flight and the newest.
    let batch = o.peek().unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    assert_eq!(o.len(), 2);
    o.ack(&batch.into_iter().map(|(k, _)| k).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(o.len(), 1);
}

#[test]
fn records_in_flight_are_neither_dropped_nor_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 4);
    for i in 1..=6 {
        o.append(rec("log", &format!("l{i}"))).unwrap();
    }
    // The marker stays where it was first written, now standing for l1..l3.
    assert_eq!(
        contents(&o),
        strs(&["log:l4", "log:l5", "log:!3", "log:l6"])
    );
    // The whole outbox is in flight: nothing in it can be dropped.
    let batch = o.peek().unwrap();
    assert_eq!(batch.len(), 4);
    // Dropping l7 alone for a new marker gains nothing: the bound is exceeded.
    o.append(rec("log", "l7")).unwrap();
    assert_eq!(o.len(), 5);
    // l7 and l8 go; the in-flight marker is not rewritten, a new one counts them.
    o.append(rec("log", "l8")).unwrap();
    assert_eq!(
        contents(&o),
        strs(&["log:l4", "log:l5", "log:!3", "log:l6", "log:!2"])
    );
    // The only droppable log record is the newest one.
    o.append(rec("log", "l9")).unwrap();
    assert_eq!(
        contents(&o),
        strs(&["log:l4", "log:l5", "log:!3", "log:l6", "log:!3"])
    );
    // Delivered: the in-flight ones leave; the new marker keeps counting (3 so far).
    o.ack(&batch.into_iter().map(|(k, _)| k).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(o.len(), 1);
    for i in 10..=13 {
        o.append(rec("log", &format!("l{i}"))).unwrap();
    }
    assert_eq!(
        contents(&o),
        strs(&["log:!4", "log:l11", "log:l12", "log:l13"])
    );
    // After a failed push the batch may be dropped again.
    let _ = o.peek().unwrap();
    o.release();
    o.append(rec("log", "l14")).unwrap();
    assert_eq!(
        contents(&o),
        strs(&["log:!5", "log:l12", "log:l13", "log:l14"])
    );
}

#[test]
fn a_delivered_marker_starts_a_new_count() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 3);
    for i in 1..=4 {
        o.append(rec("log", &format!("l{i}"))).unwrap();
    }
    assert_eq!(contents(&o), strs(&["log:l3", "log:l4", "log:!2"]));
    let batch = o.peek().unwrap();
    o.ack(&batch.into_iter().map(|(k, _)| k).collect::<Vec<_>>())
        .unwrap();
    assert!(o.is_empty());
    for i in 5..=8 {
        o.append(rec("log", &format!("l{i}"))).unwrap();
    }
    assert_eq!(contents(&o), strs(&["log:l7", "log:l8", "log:!2"]));
}

#[tokio::test]
async fn the_bound_and_the_count_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, o) = open(&dir, 4);
        o.append(rec("heartbeat", "")).unwrap();
        for i in 1..=5 {
            o.append(rec("log", &format!("l{i}"))).unwrap();
        }
        assert_eq!(
            contents(&o),
            strs(&["heartbeat:", "log:l4", "log:!3", "log:l5"])
        );
        db.flush().unwrap();
    }
    let db = crate::agent::open_db(dir.path()).await.unwrap();
    let o = Outbox::open_bounded(&db, "d", "s", 4).unwrap();
    assert_eq!(o.len(), 4);
    o.append(rec("heartbeat", "")).unwrap();
    o.append(rec("log", "l6")).unwrap();
    assert_eq!(
        contents(&o),
        strs(&["log:!4", "log:l5", "heartbeat:", "log:l6"])
    );
    assert_eq!(o.len(), 4);
}

#[test]
fn a_large_outbox_stays_at_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 1000);
    for i in 0..3000 {
        if i % 10 == 0 {
            o.append(rec("status", &format!("s{i}"))).unwrap();
        } else {
            o.log("info", &format!("l{i}"), "test", "line");
        }
        assert!(o.len() <= 1000);
    }
    let c = contents(&o);
    assert_eq!(c.len(), o.len());
    assert_eq!(c.iter().filter(|s| s.starts_with("status")).count(), 300);
    let markers: Vec<&String> = c.iter().filter(|s| s.starts_with("log:!")).collect();
    assert_eq!(markers.len(), 1);
    let kept_logs = c.iter().filter(|s| s.starts_with("log:l")).count();
    let dropped: usize = markers[0]["log:!".len()..].parse().unwrap();
    assert_eq!(kept_logs + dropped, 2700);
}

/// Only what is worth keeping across a crash asks for a flush before the next push: the open
/// (it moved the heartbeat sequence on), every record but a heartbeat, and the heartbeat that
/// starts a block of sequences.
#[test]
fn only_changes_besides_heartbeats_need_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, DEFAULT_MAX_RECORDS);
    let opened = o
        .unflushed()
        .expect("the open is flushed before the first push");
    o.flushed(opened);
    assert_eq!(o.unflushed(), None);
    assert_eq!(o.append(rec("heartbeat", "")).unwrap(), 1);
    let first = o.unflushed().expect("the first heartbeat starts a block");
    o.flushed(first);
    assert_eq!(o.append(rec("heartbeat", "")).unwrap(), 2);
    assert_eq!(o.unflushed(), None, "a heartbeat alone needs no flush");
    o.append(rec("status", "s1")).unwrap();
    let status = o.unflushed().expect("a status needs a flush");
    o.append(rec("log", "l1")).unwrap();
    let log = o.unflushed().expect("so does a log record");
    assert!(log > status);
    o.flushed(status);
    assert_eq!(
        o.unflushed(),
        Some(log),
        "a flush covers only what it counted"
    );
    o.flushed(log);
    for seq in 3..=HEARTBEAT_SEQUENCE_BLOCK {
        assert_eq!(o.append(rec("heartbeat", "")).unwrap(), seq);
    }
    assert_eq!(o.unflushed(), None);
    assert_eq!(
        o.append(rec("heartbeat", "")).unwrap(),
        HEARTBEAT_SEQUENCE_BLOCK + 1
    );
    assert!(
        o.unflushed().is_some(),
        "the heartbeat that starts the next block is flushed before it is sent"
    );
}

/// A reopened outbox continues the heartbeat sequence a block past the stored one (heartbeats
/// sent unflushed before a crash took fewer than a block), and the other streams where they were.
#[tokio::test]
async fn a_reopened_outbox_continues_heartbeats_a_block_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, o) = open(&dir, DEFAULT_MAX_RECORDS);
        assert_eq!(o.append(rec("heartbeat", "")).unwrap(), 1);
        assert_eq!(o.append(rec("log", "a")).unwrap(), 1);
        assert_eq!(o.append(rec("heartbeat", "")).unwrap(), 2);
        db.flush().unwrap();
    }
    let db = crate::agent::open_db(dir.path()).await.unwrap();
    let o = Outbox::open(&db, "d", "s").unwrap();
    assert_eq!(
        o.append(rec("heartbeat", "")).unwrap(),
        2 + HEARTBEAT_SEQUENCE_BLOCK + 1
    );
    assert_eq!(o.append(rec("log", "b")).unwrap(), 2);
}

/// A heartbeat stored while the heartbeats it replaces cannot all be removed, and an
/// acknowledgement of heartbeats whose removal fails midway: the count of pending records
/// always matches what the tree holds, and the next heartbeat replaces what was left.
#[test]
fn a_failed_removal_of_heartbeats_keeps_the_count_matching_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, o) = open(&dir, 100);
    let stored = |o: &Outbox| o.records.len();
    let fail_after = |n: usize| {
        let mut left = n;
        move |records: &sled::Tree, key: u64| {
            if left == 0 {
                return Err(Error::Corrupt("injected".into()));
            }
            left -= 1;
            remove_key(records, key)
        }
    };
    // Three heartbeats stored while pushes held them in flight: 1, then 2 beside it, then 3.
    o.append(rec("heartbeat", "")).unwrap();
    let _batch = o.peek().unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    let _batch = o.peek().unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    assert_eq!((o.len(), stored(&o)), (3, 3));
    // The pushes failed; the next heartbeat replaces three, but only one removal succeeds.
    o.lock().in_flight_upto = None;
    let seq = o
        .append_removing(rec("heartbeat", ""), &mut fail_after(1))
        .expect("the new heartbeat is stored even when old ones stay");
    assert_eq!(seq, 4);
    assert_eq!((o.len(), stored(&o)), (3, 3), "two old ones stay, counted");
    // The next heartbeat replaces all of them.
    o.append(rec("heartbeat", "")).unwrap();
    assert_eq!((o.len(), stored(&o)), (1, 1));
    assert_eq!(contents(&o), strs(&["heartbeat:"]));

    // An acknowledged batch of heartbeats whose removal fails after the first.
    o.lock().in_flight_upto = None;
    let batch = o.peek().unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    let batch: Vec<_> = batch.into_iter().map(|(k, _)| k).collect();
    o.release();
    let batch2: Vec<_> = o.peek().unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(batch2.len(), 1, "release kept only the newest heartbeat");
    assert!(batch.iter().all(|k| !o.records.contains_key(k).unwrap()));
    o.append(rec("heartbeat", "")).unwrap();
    o.append(rec("heartbeat", "")).unwrap();
    let all: Vec<_> = o.records.iter().keys().map(Result::unwrap).collect();
    assert_eq!(all.len(), 2, "the one in flight and the newest");
    assert!(
        o.ack_removing(&all, &mut fail_after(1)).is_err(),
        "the failure is reported"
    );
    assert_eq!((o.len(), stored(&o)), (1, 1));
    o.ack(
        &o.records
            .iter()
            .keys()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!((o.len(), stored(&o)), (0, 0));
}
