//! Status up the tiers: records from an in-test log server turn intents ACTIVE.

mod common;

use common::*;
use futures::StreamExt;
use maestro_proto::intent::v1 as pb;
use maestro_proto::logs::v1 as logs;

#[tokio::test]
async fn converged_records_at_the_generation_make_the_intent_active() {
    let dir = tempfile::tempdir().unwrap();
    let (logs_server, endpoint, stop_logs) = fake_logs().await;
    let mut d = Domain::start(
        &dir.path().join("data"),
        &remote_path(dir.path()),
        Some(endpoint),
    )
    .await;
    let mut watch = d.watch().await;
    let i = intent("web", 1, 2);
    apply(&mut d.client, i.clone()).await;
    wait_committed(&mut watch, &i.id, 1).await;

    logs_server.push(status_record("s1", "web", &i.id, 1, true));
    let s = wait_status(&mut watch, |s| s.intent_id == i.id && s.ready == 1).await;
    assert_eq!(
        s.state,
        pb::ServiceState::Reserved as i32,
        "one of two sites is not active"
    );
    let s1 = s.sites.iter().find(|x| x.site == "s1").unwrap();
    assert!(s1.last_heard.is_some());

    logs_server.push(status_record("s2", "web", &i.id, 1, true));
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.state == pb::ServiceState::Active as i32
    })
    .await;
    assert_eq!(
        (s.ready, s.total, s.observed_generation, s.generation),
        (2, 2, 1, 1)
    );
    assert_eq!(
        d.ctx.observed.cursor().unwrap(),
        2,
        "cursor persisted after processing"
    );
    d.stop().await;
    stop_logs.cancel();
}

#[tokio::test]
async fn records_at_an_older_generation_do_not_make_it_active() {
    let dir = tempfile::tempdir().unwrap();
    let (logs_server, endpoint, stop_logs) = fake_logs().await;
    let mut d = Domain::start(
        &dir.path().join("data"),
        &remote_path(dir.path()),
        Some(endpoint),
    )
    .await;
    let mut watch = d.watch().await;
    let i = intent("web", 1, 2);
    apply(&mut d.client, i.clone()).await;
    wait_committed(&mut watch, &i.id, 1).await;
    apply(&mut d.client, intent("web", 2, 3)).await;
    wait_committed(&mut watch, &i.id, 2).await;

    logs_server.push(status_record("s1", "web", &i.id, 1, true));
    logs_server.push(status_record("s2", "web", &i.id, 1, true));
    // Both old-generation records are folded in once every site reports observing generation 1.
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id
            && s.sites.len() == 2
            && s.sites.iter().all(|x| x.observed_generation == 1)
    })
    .await;
    assert_eq!(s.state, pb::ServiceState::Reserved as i32);
    assert_eq!((s.ready, s.total, s.observed_generation), (0, 2, 1));

    logs_server.push(status_record("s1", "web", &i.id, 2, true));
    logs_server.push(status_record("s2", "web", &i.id, 2, true));
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.state == pb::ServiceState::Active as i32
    })
    .await;
    assert_eq!((s.generation, s.observed_generation), (2, 2));
    d.stop().await;
    stop_logs.cancel();
}

#[tokio::test]
async fn resumes_from_the_persisted_cursor_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (logs_server, endpoint, stop_logs) = fake_logs().await;
    let data = dir.path().join("data");
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&data, &remote, Some(endpoint.clone())).await;
    let mut watch = d.watch().await;
    let i = intent("web", 1, 2);
    apply(&mut d.client, i.clone()).await;
    wait_committed(&mut watch, &i.id, 1).await;
    logs_server.push(status_record("s1", "web", &i.id, 1, true));
    logs_server.push(status_record("s2", "web", &i.id, 1, true));
    wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.state == pb::ServiceState::Active as i32
    })
    .await;
    drop(watch);
    d.stop().await;

    let d = Domain::start(&data, &remote, Some(endpoint)).await;
    let mut watch = d.watch().await;
    // The snapshot already says ACTIVE: the statuses were persisted, not replayed.
    let s = wait_status(&mut watch, |s| s.intent_id == i.id).await;
    assert_eq!(s.state, pb::ServiceState::Active as i32);
    logs_server.push(status_record("s1", "web", &i.id, 1, false));
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.state == pb::ServiceState::Reserved as i32
    })
    .await;
    assert_eq!(s.ready, 1);
    assert_eq!(d.ctx.observed.cursor().unwrap(), 3);
    d.stop().await;
    stop_logs.cancel();
}

#[tokio::test]
async fn stream_intent_logs_maps_log_records() {
    let dir = tempfile::tempdir().unwrap();
    let (logs_server, endpoint, stop_logs) = fake_logs().await;
    let mut d = Domain::start(
        &dir.path().join("data"),
        &remote_path(dir.path()),
        Some(endpoint),
    )
    .await;
    let id = intent("web", 1, 1).id;
    let mut line = status_record("s1", "web", &id, 1, true);
    line.stream = "log".into();
    line.body = Some(logs::record::Body::Log(logs::LogLine {
        level: "info".into(),
        message: "hello".into(),
        source: "p1".into(),
    }));
    logs_server.push(line);
    logs_server.push(status_record(
        "s1",
        "web",
        &intent("other", 1, 1).id,
        1,
        true,
    ));
    let mut stream = d
        .client
        .stream_intent_logs(pb::StreamIntentLogsRequest {
            intent_ids: vec![id.clone()],
            follow: false,
        })
        .await
        .unwrap()
        .into_inner();
    let read = async {
        let mut v = Vec::new();
        while let Some(r) = stream.next().await {
            v.push(r.unwrap());
        }
        v
    };
    let got: Vec<_> = maestro_testkit::within("the log stream to end", GUARD, read)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (
            got[0].level.as_str(),
            got[0].message.as_str(),
            got[0].site.as_str()
        ),
        ("info", "hello", "s1")
    );
    assert_eq!(
        (got[0].intent_id.as_str(), got[0].sequence),
        (id.as_str(), 1)
    );
    d.stop().await;
    stop_logs.cancel();
}
