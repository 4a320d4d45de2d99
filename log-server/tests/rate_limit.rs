//! The per-site push rate limit over a real server: a push over the limit is refused whole with
//! RESOURCE_EXHAUSTED and stores nothing; other sites are not affected; the site gets through once
//! its bucket has refilled.

mod common;

use common::*;
use log_server::{Config, MAX_RECORDS_PER_PUSH};
use maestro_proto::logs::v1 as proto;
use maestro_testkit::until;
use tonic::Code;

#[tokio::test]
async fn a_push_over_the_limit_is_refused_whole_then_accepted_after_refill() {
    let dir = tempfile::tempdir().unwrap();
    // One record per second, a bucket of one full push.
    let server = Server::start_with(Config {
        rate_limit_per_site: 1,
        rate_limit_burst: MAX_RECORDS_PER_PUSH as u32,
        ..config(dir.path())
    })
    .await;
    let mut client = server.client();
    let burst = MAX_RECORDS_PER_PUSH as u64;
    let out = push(&mut client, logs("s1", 1..=burst)).await;
    assert_eq!(out.accepted as u64, burst);

    // The bucket is empty; ten more records would need ten seconds of refill.
    let over = logs("s1", burst + 1..=burst + 10);
    let err = client
        .push(proto::PushRequest {
            records: over.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(err.message(), "site s1 exceeds 1 records/s");
    // A mixed push is refused whole too, naming the site over the limit.
    let mut mixed = logs("s2", 1..=2);
    mixed.extend(logs("s1", burst + 1..=burst + 10));
    let err = client
        .push(proto::PushRequest { records: mixed })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().starts_with("site s1 "), "{}", err.message());
    let stored = everything(&mut client).await;
    assert_eq!(stored.len() as u64, burst, "refused pushes stored nothing");

    // Another site has its own bucket.
    let out = push(&mut client, logs("s2", 1..=3)).await;
    assert_eq!(out.accepted, 3);

    // Like a site's outbox: push again until the bucket has refilled enough.
    let accepted = until("a token to refill", GUARD, async || {
        let push = client
            .push(proto::PushRequest {
                records: logs("s1", burst + 1..=burst + 1),
            })
            .await;
        match push {
            Ok(reply) => Ok(Some(reply.into_inner())),
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                Ok(None)
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(accepted.accepted, 1);
    assert_eq!(everything(&mut client).await.len() as u64, burst + 3 + 1);
    server.stop().await;
}

#[tokio::test]
async fn the_default_limit_admits_ordinary_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut client = server.client();
    for part in 0..5u64 {
        let out = push(
            &mut client,
            logs("s1", part * 1000 + 1..=part * 1000 + 1000),
        )
        .await;
        assert_eq!(out.accepted, 1000);
    }
    server.stop().await;
}
