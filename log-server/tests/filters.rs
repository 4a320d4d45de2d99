//! Time-window (`since`/`until` on `observed_at`) and stream filters of Query and Subscribe, over a
//! real server.

mod common;

use common::*;
use maestro_common::time::timestamp;
use maestro_proto::logs::v1::{self as proto, log_service_client::LogServiceClient};
use tonic::Code;
use tonic::transport::Channel;

/// Milliseconds of observation time used below.
const T0: i64 = 1_700_000_000_000;

fn observed(mut r: proto::Record, at_ms: i64) -> proto::Record {
    r.observed_at = Some(timestamp(at_ms));
    r
}

fn status(sender_sequence: u64) -> proto::Record {
    proto::Record {
        stream: "status".into(),
        body: Some(proto::record::Body::Status(proto::BlueprintStatus {
            kind: "ProcessDeployment".into(),
            converged: true,
            ..Default::default()
        })),
        ..log("s1", sender_sequence, "i1")
    }
}

fn heartbeat(sender_sequence: u64) -> proto::Record {
    proto::Record {
        blueprint: String::new(),
        stream: "heartbeat".into(),
        body: Some(proto::record::Body::Heartbeat(proto::SiteHeartbeat {
            blueprints: 1,
            ..Default::default()
        })),
        ..log("s1", sender_sequence, "")
    }
}

/// Sequence i (1..=9) is observed at T0 + i s, cycling log, status, heartbeat; sequence 10 has
/// no observation time.
async fn seed(client: &mut LogServiceClient<Channel>) {
    let records = (1..=9u64)
        .map(|i| {
            let r = match i % 3 {
                1 => log("s1", i, "i1"),
                2 => status(i),
                _ => heartbeat(i),
            };
            observed(r, T0 + i as i64 * 1000)
        })
        .chain([log("s1", 10, "i1")])
        .collect();
    let out = push(client, records).await;
    assert_eq!(out.accepted, 10);
}

async fn query(client: &mut LogServiceClient<Channel>, filter: proto::RecordFilter) -> Vec<u64> {
    let page = client
        .query(proto::QueryRequest {
            filter: Some(filter),
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.next_after_sequence, 0);
    seqs(&page.records)
}

async fn subscribed(
    client: &mut LogServiceClient<Channel>,
    filter: proto::RecordFilter,
) -> Vec<u64> {
    seqs(&drain(subscribe(client, 0, false, Some(filter)).await).await)
}

#[tokio::test]
async fn query_and_subscribe_select_the_observed_time_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    seed(&mut client).await;
    let cases = [
        // since inclusive, until exclusive
        (Some(T0 + 3000), Some(T0 + 6000), vec![3, 4, 5]),
        (Some(T0 + 3000), None, vec![3, 4, 5, 6, 7, 8, 9]),
        (None, Some(T0 + 3000), vec![1, 2]),
        (Some(T0 + 2500), Some(T0 + 3001), vec![3]),
        (Some(T0 + 3000), Some(T0 + 3000), vec![]),
        (None, None, (1..=10).collect()),
    ];
    for (since, until, want) in cases {
        let filter = proto::RecordFilter {
            since: since.map(timestamp),
            until: until.map(timestamp),
            ..Default::default()
        };
        assert_eq!(
            query(&mut client, filter.clone()).await,
            want,
            "{since:?}..{until:?}"
        );
        assert_eq!(
            subscribed(&mut client, filter).await,
            want,
            "{since:?}..{until:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn query_and_subscribe_select_streams_combined_with_other_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    seed(&mut client).await;
    let streams = |s: &[&str]| proto::RecordFilter {
        streams: s.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    for (filter, want) in [
        (streams(&["status"]), vec![2, 5, 8]),
        (streams(&["heartbeat", "status"]), vec![2, 3, 5, 6, 8, 9]),
        (streams(&["log"]), vec![1, 4, 7, 10]),
        (streams(&["nothing-like-this"]), vec![]),
        (
            proto::RecordFilter {
                since: Some(timestamp(T0 + 4000)),
                ..streams(&["log", "status"])
            },
            vec![4, 5, 7, 8],
        ),
    ] {
        assert_eq!(query(&mut client, filter.clone()).await, want, "{filter:?}");
        assert_eq!(
            subscribed(&mut client, filter.clone()).await,
            want,
            "{filter:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_following_subscriber_only_gets_new_records_that_match() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    seed(&mut client).await;
    let filter = proto::RecordFilter {
        streams: vec!["status".into()],
        until: Some(timestamp(T0 + 60_000)),
        ..Default::default()
    };
    let mut stream = subscribe(&mut client, 0, true, Some(filter)).await;
    assert_eq!(seqs(&take(&mut stream, 3).await), vec![2, 5, 8]);
    push(
        &mut client,
        vec![
            observed(log("s1", 11, "i1"), T0 + 20_000),
            observed(status(12), T0 + 90_000), // after `until`
            observed(status(13), T0 + 20_000),
        ],
    )
    .await;
    let got = take(&mut stream, 1).await;
    assert_eq!((got[0].sequence, got[0].sender_sequence), (13, 13));
    server.stop().await;
}

#[tokio::test]
async fn invalid_filters_are_rejected_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    let cases = [
        (
            proto::RecordFilter {
                since: Some(timestamp(T0 + 1)),
                until: Some(timestamp(T0)),
                ..Default::default()
            },
            "filter.until:",
        ),
        (
            proto::RecordFilter {
                streams: vec!["log".into(), "x".repeat(65)],
                ..Default::default()
            },
            "filter.streams[1]:",
        ),
        (
            proto::RecordFilter {
                streams: vec![String::new()],
                ..Default::default()
            },
            "filter.streams[0]:",
        ),
    ];
    for (filter, prefix) in cases {
        let err = client
            .query(proto::QueryRequest {
                filter: Some(filter.clone()),
                after_sequence: 0,
                page_size: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(prefix), "{}", err.message());
        let err = client
            .subscribe(proto::SubscribeRequest {
                after_sequence: 0,
                follow: true,
                filter: Some(filter),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(prefix), "{}", err.message());
    }
    // A stream name of exactly 64 characters is fine.
    let ok = proto::RecordFilter {
        streams: vec!["x".repeat(64)],
        ..Default::default()
    };
    assert!(query(&mut client, ok).await.is_empty());
    server.stop().await;
}
