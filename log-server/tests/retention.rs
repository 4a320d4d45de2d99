//! Retention in a running server: applied at start and on every interval, keeps the latest status
//! of each blueprint, tells subscribers whose cursor is before removed records, and still
//! recognises resends of removed records.

mod common;

use common::*;
use futures::StreamExt;
use log_server::{Config, RETENTION_NOTICE_STREAM};
use maestro_proto::logs::v1::{self as proto, log_service_client::LogServiceClient};
use maestro_testkit::{until, within};
use std::path::Path;
use tonic::transport::Channel;

fn status(blueprint: &str, sender_sequence: u64) -> proto::Record {
    proto::Record {
        blueprint: blueprint.into(),
        stream: "status".into(),
        body: Some(proto::record::Body::Status(proto::BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: 1,
            total_instances: 1,
            converged: true,
            ..Default::default()
        })),
        ..log("s1", sender_sequence, "i1")
    }
}

fn is_notice(r: &proto::Record) -> bool {
    r.site.is_empty() && r.stream == RETENTION_NOTICE_STREAM
}

/// Sequences 1 = web#1, 2 = db#2, 3 = web#3 (statuses), 4..=13 = logs 1..=10.
async fn seed(dir: &Path) -> Vec<proto::Record> {
    let server = Server::start(dir).await;
    let mut client = server.client();
    let statuses = vec![status("web", 1), status("db", 2), status("web", 3)];
    push(&mut client, statuses.clone()).await;
    let logs = logs("s1", 1..=10);
    push(&mut client, logs.clone()).await;
    server.stop().await;
    statuses.into_iter().chain(logs).collect()
}

async fn query_all(client: &mut LogServiceClient<Channel>) -> Vec<u64> {
    let page = client
        .query(proto::QueryRequest {
            filter: None,
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    seqs(&page.records)
}

#[tokio::test]
async fn retention_at_start_keeps_latest_statuses_and_tells_old_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let sent = seed(dir.path()).await;
    let server = Server::start_with(Config {
        retention_max_records: Some(5),
        ..config(dir.path())
    })
    .await;
    let mut client = server.client();
    // web#1 and the six oldest logs are gone; the latest status of each blueprint stays.
    assert_eq!(query_all(&mut client).await, vec![2, 3, 11, 12, 13]);

    let got = drain(subscribe(&mut client, 0, false, None).await).await;
    assert!(
        is_notice(&got[0]),
        "first message is the notice: {:?}",
        got[0]
    );
    assert_eq!((got[0].sequence, got[0].domain.as_str()), (0, "north"));
    let Some(proto::record::Body::Log(line)) = &got[0].body else {
        panic!("the notice is a log line");
    };
    assert!(line.message.contains("up to 10"), "{}", line.message);
    assert_eq!(seqs(&got[1..]), vec![2, 3, 11, 12, 13]);

    // A cursor past the removed records: no notice.
    let got = drain(subscribe(&mut client, 10, false, None).await).await;
    assert_eq!(seqs(&got), vec![11, 12, 13]);

    // A following subscriber is told once, then follows as usual.
    let mut stream = subscribe(&mut client, 4, true, None).await;
    let first = take(&mut stream, 4).await;
    assert!(
        is_notice(&first[0]) && first[0].sequence == 4,
        "{:?}",
        first[0]
    );
    assert_eq!(seqs(&first[1..]), vec![11, 12, 13]);
    push(&mut client, logs("s1", 11..=11)).await;
    let next = take(&mut stream, 1).await;
    assert!(!is_notice(&next[0]));
    assert_eq!(next[0].sequence, 14);
    drop(stream);

    // Everything the site sent is still recognised; nothing is stored twice.
    let out = push(&mut client, sent).await;
    assert_eq!((out.accepted, out.duplicates), (0, 13));
    assert_eq!(query_all(&mut client).await, vec![2, 3, 11, 12, 13, 14]);
    server.stop().await;
}

#[tokio::test]
async fn retention_by_bytes_at_start_removes_the_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    // Measure the stored records, then allow the two latest statuses and the three newest logs.
    let sizes = {
        let server = Server::start(dir.path()).await;
        let mut client = server.client();
        let all = everything(&mut client).await;
        server.stop().await;
        all.iter()
            .map(|r| prost::Message::encoded_len(r) as u64)
            .collect::<Vec<_>>()
    };
    let budget = sizes[1] + sizes[2] + sizes[10..].iter().sum::<u64>();
    let server = Server::start_with(Config {
        retention_max_bytes: Some(budget),
        ..config(dir.path())
    })
    .await;
    let mut client = server.client();
    assert_eq!(query_all(&mut client).await, vec![2, 3, 11, 12, 13]);
    server.stop().await;
}

#[tokio::test]
async fn retention_by_age_at_start_keeps_only_latest_statuses_of_old_records() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    // Let the wall clock pass the last `received_at` (a millisecond at most), so that with a zero
    // age everything stored is due when the server starts.
    let seeded = maestro_common::time::now_millis();
    until("the wall clock to pass the seeding", GUARD, async || {
        Ok((maestro_common::time::now_millis() > seeded).then_some(()))
    })
    .await
    .unwrap();
    let server = Server::start_with(Config {
        retention_max_age_ms: Some(0),
        ..config(dir.path())
    })
    .await;
    let mut client = server.client();
    assert_eq!(query_all(&mut client).await, vec![2, 3]);
    server.stop().await;
}

#[tokio::test]
async fn the_retention_loop_trims_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(Config {
        retention_max_records: Some(3),
        retention_interval_ms: 20,
        ..config(dir.path())
    })
    .await;
    let mut client = server.client();
    push(&mut client, vec![status("web", 1)]).await;
    push(&mut client, logs("s1", 1..=10)).await;
    // Polled: the loop runs every 20 ms; GUARD only catches a loop that never runs.
    let trimmed = until("retention to trim to 3 records", GUARD, async || {
        let left = query_all(&mut client).await;
        Ok((left.len() == 3).then_some(left))
    })
    .await
    .unwrap();
    assert_eq!(trimmed, vec![1, 10, 11]);
    // A subscriber from the start learns about it first.
    let mut stream = subscribe(&mut client, 0, true, None).await;
    let first = within("the retention notice", GUARD, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(is_notice(&first));
    server.stop().await;
}
