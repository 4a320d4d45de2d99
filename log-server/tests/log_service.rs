//! Contract tests of `maestro.logs.v1.LogService`: a real server on 127.0.0.1:0 with sled in a
//! temp dir, reached through a real tonic client.

mod common;

use common::*;
use futures::StreamExt;
use log_server::{Config, SERVICE_NAME};
use maestro_proto::logs::v1 as proto;
use maestro_testkit::within;
use tonic::Code;

#[tokio::test]
async fn push_then_subscribe_from_zero_returns_all_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    let out = push(&mut client, logs("s1", 1..=3)).await;
    assert_eq!((out.accepted, out.duplicates, out.last_sequence), (3, 0, 3));
    let out = push(&mut client, logs("s2", 1..=2)).await;
    assert_eq!((out.accepted, out.last_sequence), (2, 5));

    let got = everything(&mut client).await;
    assert_eq!(seqs(&got), vec![1, 2, 3, 4, 5]);
    let senders: Vec<_> = got
        .iter()
        .map(|r| (r.site.as_str(), r.sender_sequence))
        .collect();
    assert_eq!(
        senders,
        vec![("s1", 1), ("s1", 2), ("s1", 3), ("s2", 1), ("s2", 2)]
    );
    assert!(
        got.iter()
            .all(|r| r.domain == "north" && r.received_at.is_some())
    );
    let mut sent = log("s1", 1, "i1");
    sent.domain = "north".into();
    sent.sequence = 1;
    sent.received_at = got[0].received_at;
    assert_eq!(
        got[0], sent,
        "stored record equals what was pushed plus server fields"
    );
    server.stop().await;
}

#[tokio::test]
async fn resubmitting_the_same_records_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    push(&mut client, logs("s1", 1..=3)).await;
    // The ack of the first push was "lost": the site resends it together with new records.
    let out = push(&mut client, logs("s1", 1..=5)).await;
    assert_eq!((out.accepted, out.duplicates, out.last_sequence), (2, 3, 5));
    let out = push(&mut client, logs("s1", 1..=5)).await;
    assert_eq!((out.accepted, out.duplicates), (0, 5));
    let got = everything(&mut client).await;
    assert_eq!(seqs(&got), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        got.iter().map(|r| r.sender_sequence).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    server.stop().await;
}

#[tokio::test]
async fn subscribe_with_follow_receives_records_pushed_later() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    push(&mut client, logs("s1", 1..=2)).await;
    let mut stream = subscribe(&mut client, 0, true, None).await;
    assert_eq!(seqs(&take(&mut stream, 2).await), vec![1, 2]);
    push(&mut client, logs("s1", 3..=4)).await;
    assert_eq!(seqs(&take(&mut stream, 2).await), vec![3, 4]);
    push(&mut client, logs("s2", 1..=1)).await;
    let got = take(&mut stream, 1).await;
    assert_eq!((got[0].sequence, got[0].site.as_str()), (5, "s2"));
    server.stop().await;
    // Shutdown ends a following stream (with a reason), it does not hang.
    let end = within("the stream to end on shutdown", GUARD, stream.next())
        .await
        .unwrap();
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_does_not_block_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    let mut stream = subscribe(&mut client, 0, true, None).await;
    for batch in 0..5u64 {
        let out = within(
            "a push while a subscriber lags",
            GUARD,
            push(&mut client, logs("s1", batch * 200 + 1..=batch * 200 + 200)),
        )
        .await
        .unwrap();
        assert_eq!(out.accepted, 200);
    }
    let got = take(&mut stream, 1000).await;
    assert_eq!(seqs(&got), (1..=1000).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn resume_from_cursor_after_dropping_the_stream_has_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    push(&mut client, logs("s1", 1..=5)).await;
    let mut stream = subscribe(&mut client, 0, true, None).await;
    let first = take(&mut stream, 3).await;
    let cursor = first.last().unwrap().sequence;
    drop(stream);
    push(&mut client, logs("s1", 6..=8)).await;
    let mut stream = subscribe(&mut client, cursor, true, None).await;
    let rest = take(&mut stream, 5).await;
    let mut all = seqs(&first);
    all.extend(seqs(&rest));
    assert_eq!(all, (1..=8).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn restart_keeps_records_and_the_sequence_continues() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    push(&mut client, logs("s1", 1..=3)).await;
    server.stop().await;

    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    assert_eq!(seqs(&everything(&mut client).await), vec![1, 2, 3]);
    // Dedupe survives the restart; new records continue the sequence.
    let out = push(&mut client, logs("s1", 3..=4)).await;
    assert_eq!((out.accepted, out.duplicates, out.last_sequence), (1, 1, 4));
    assert_eq!(seqs(&everything(&mut client).await), vec![1, 2, 3, 4]);
    server.stop().await;
}

#[tokio::test]
async fn invalid_records_are_rejected_with_the_field_named_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        domain: "north".into(),
        max_record_bytes: 512,
        tls: maestro_common::tls::TlsSettings::insecure(),
        ..Config::default()
    })
    .await;
    let mut client = server.client();
    let oversized = proto::Record {
        body: Some(proto::record::Body::Log(proto::LogLine {
            message: "x".repeat(600),
            ..Default::default()
        })),
        ..log("s1", 2, "i1")
    };
    let cases = vec![
        (
            proto::Record {
                site: "a/b".into(),
                ..log("s1", 2, "i1")
            },
            "records[1].site",
        ),
        (oversized, "records[1]"),
        (
            proto::Record {
                body: None,
                ..log("s1", 2, "i1")
            },
            "records[1].body",
        ),
        (
            proto::Record {
                sender_sequence: 0,
                ..log("s1", 2, "i1")
            },
            "records[1].sender_sequence",
        ),
        (
            proto::Record {
                stream: String::new(),
                ..log("s1", 2, "i1")
            },
            "records[1].stream",
        ),
        (
            proto::Record {
                domain: "south".into(),
                ..log("s1", 2, "i1")
            },
            "records[1].domain",
        ),
    ];
    for (bad, field) in cases {
        let err = client
            .push(proto::PushRequest {
                records: vec![log("s1", 1, "i1"), bad],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().starts_with(&format!("{field}:")),
            "expected {field}, got {}",
            err.message()
        );
    }
    let too_many = logs("s1", 1..=1001);
    let err = client
        .push(proto::PushRequest { records: too_many })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("records:"), "{}", err.message());
    assert!(
        everything(&mut client).await.is_empty(),
        "a rejected batch stores nothing, not even its valid records"
    );
    server.stop().await;
}

#[tokio::test]
async fn subscribe_and_query_filter_by_intent_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    let records: Vec<_> = (1..=6)
        .map(|i| log("s1", i, ["a", "b", "c"][(i % 3) as usize]))
        .collect();
    push(&mut client, records).await;
    let filter = proto::RecordFilter {
        intent_ids: vec!["a".into(), "c".into()],
        ..Default::default()
    };
    let got = drain(subscribe(&mut client, 0, false, Some(filter.clone())).await).await;
    assert_eq!(seqs(&got), vec![2, 3, 5, 6]);
    assert!(got.iter().all(|r| r.intent_id == "a" || r.intent_id == "c"));
    let page = client
        .query(proto::QueryRequest {
            filter: Some(filter),
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seqs(&page.records), vec![2, 3, 5, 6]);
    assert_eq!(page.next_after_sequence, 0);

    let bad = proto::RecordFilter {
        site: "../etc".into(),
        ..Default::default()
    };
    let err = client
        .subscribe(proto::SubscribeRequest {
            after_sequence: 0,
            follow: false,
            filter: Some(bad),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("filter.site:"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn query_pages_through_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    push(&mut client, logs("s1", 1..=7)).await;
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = client
            .query(proto::QueryRequest {
                filter: None,
                after_sequence: after,
                page_size: 3,
            })
            .await
            .unwrap()
            .into_inner();
        pages.push(seqs(&page.records));
        if page.next_after_sequence == 0 {
            break;
        }
        assert!(page.next_after_sequence > after, "cursor advances");
        after = page.next_after_sequence;
    }
    assert_eq!(pages, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    // A page that ends exactly at the last record reports that nothing follows.
    let page = client
        .query(proto::QueryRequest {
            filter: None,
            after_sequence: 4,
            page_size: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (seqs(&page.records), page.next_after_sequence),
        (vec![5, 6, 7], 0)
    );
    server.stop().await;
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let channel = maestro_common::grpc::channel(&format!("http://{}", server.addr)).unwrap();
    let mut health = HealthClient::new(channel);
    for service in [SERVICE_NAME, ""] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{service:?}");
    }
    server.stop().await;
}
