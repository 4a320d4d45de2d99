//! Status that never lies: a site that falls silent is reported unreachable (with its last
//! known counts and when it was last heard) once the threshold passes, and reachable again as soon
//! as it is heard.

mod common;

use common::*;
use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::intent::v1 as pb;

const THRESHOLD_MS: u64 = 300;

async fn start(dir: &std::path::Path, endpoint: String) -> Domain {
    Domain::start_with(&dir.join("data"), &remote_path(dir), Some(endpoint), |c| {
        c.site_unreachable_after_ms = THRESHOLD_MS
    })
    .await
}

fn site<'a>(s: &'a pb::IntentStatus, name: &str) -> &'a pb::SiteStatus {
    s.sites.iter().find(|x| x.site == name).unwrap()
}

/// The typed reasons of a site.
fn reasons(s: &pb::SiteStatus) -> Vec<StatusReason> {
    reasons_from_proto("reasons", s.reasons.clone()).unwrap()
}

#[tokio::test]
async fn a_silent_site_turns_unreachable_and_back_when_heard() {
    let dir = tempfile::tempdir().unwrap();
    let (logs_server, endpoint, stop_logs) = fake_logs().await;
    let mut d = start(dir.path(), endpoint).await;
    let mut watch = d.watch().await;
    let mut i = intent("web", 1, 2);
    i.sites = vec!["s1".into()];
    apply(&mut d.client, i.clone()).await;
    wait_committed(&mut watch, &i.id, 1).await;

    let record = status_record("s1", "web", &i.id, 1, true);
    let observed_at = record.observed_at;
    logs_server.push(record);
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.state == pb::ServiceState::Active as i32
    })
    .await;
    assert!(!site(&s, "s1").unreachable);
    assert_eq!(site(&s, "s1").observed_at, observed_at);

    // Silence: nothing is pushed; the timer must notice.
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.sites.iter().any(|x| x.unreachable)
    })
    .await;
    let s1 = site(&s, "s1");
    assert_eq!(
        reasons(s1),
        vec![StatusReason::Unreachable {
            domain: DOMAIN.into(),
            site: Some("s1".into()),
            last_heard_ms: Some(maestro_common::time::millis(s1.last_heard.as_ref())),
        }],
        "unreachable since its last record, as a timestamp"
    );
    assert!(
        !s1.message.contains("ago"),
        "no age in text: {}",
        s1.message
    );
    assert_eq!((s1.ready, s1.total), (1, 1), "the last known counts stay");
    assert_eq!(s1.observed_at, observed_at);
    let silent_ms = maestro_common::time::millis(s.updated_at.as_ref())
        - maestro_common::time::millis(s1.last_heard.as_ref());
    assert!(
        silent_ms > THRESHOLD_MS as i64,
        "flagged only after the threshold ({silent_ms} ms)"
    );
    assert_eq!(
        s.state,
        pb::ServiceState::Active as i32,
        "the computed state is kept; the flag says it is stale"
    );
    let typed = reasons_from_proto("reasons", s.reasons.clone()).unwrap();
    assert!(
        typed.contains(&StatusReason::SitesUnreachable {
            unreachable: 1,
            total: 1
        }),
        "{typed:?}"
    );

    // Heard again: a heartbeat is enough.
    logs_server.push(heartbeat_record("s1"));
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.sites.iter().all(|x| !x.unreachable)
    })
    .await;
    assert_eq!(reasons(site(&s, "s1")), vec![]);
    assert_eq!(site(&s, "s1").message, "");
    assert_eq!(s.state, pb::ServiceState::Active as i32);
    d.stop().await;
    stop_logs.cancel();
}

#[tokio::test]
async fn a_site_never_heard_is_unreachable_only_after_the_threshold_since_the_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs_server, endpoint, stop_logs) = fake_logs().await;
    let mut d = start(dir.path(), endpoint).await;
    let mut watch = d.watch().await;
    let i = intent("web", 1, 1);
    let applied = maestro_common::time::now_millis();
    apply(&mut d.client, i.clone()).await;
    let s = wait_committed(&mut watch, &i.id, 1).await;
    assert!(s.sites.iter().all(|x| !x.unreachable), "{s:?}");
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.sites.iter().all(|x| x.unreachable)
    })
    .await;
    assert!(maestro_common::time::millis(s.updated_at.as_ref()) - applied > THRESHOLD_MS as i64);
    assert_eq!(
        reasons(site(&s, "s2")),
        vec![
            StatusReason::Unreachable {
                domain: DOMAIN.into(),
                site: Some("s2".into()),
                last_heard_ms: None,
            },
            StatusReason::BlueprintPending {
                blueprint: "web".into(),
                generation: None,
                message: String::new(),
            }
        ]
    );
    assert_eq!(s.state, pb::ServiceState::Reserved as i32);
    d.stop().await;
    stop_logs.cancel();
}
