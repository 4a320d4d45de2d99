//! A site that refuses a blueprint's spec (its reconciler writes `invalidSpec` in the status)
//! makes the intent INACTIVE with a failed reason naming the site and its reason: the order
//! item fails instead of waiting forever.

mod common;

use common::*;
use maestro_common::contract::{ANN_INTENT_GENERATION, STATUS_INVALID_SPEC, invalid_spec_status};
use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::intent::v1 as pb;
use maestro_proto::logs::v1 as logs;
use std::collections::BTreeMap;

fn refused_record(site: &str, intent_id: &str, generation: u64, reason: &str) -> logs::Record {
    let mut r = status_record(site, "web", intent_id, generation, false);
    let ann = BTreeMap::from([(ANN_INTENT_GENERATION.to_string(), generation.to_string())]);
    if let Some(logs::record::Body::Status(s)) = r.body.as_mut() {
        s.message = format!("invalid spec: {reason}");
        s.status_json = serde_json::json!({
            "runningInstances": 0, "totalInstances": 0,
            STATUS_INVALID_SPEC: invalid_spec_status(reason, &ann),
        })
        .to_string();
    }
    r
}

#[tokio::test]
async fn a_site_refusing_the_spec_makes_the_intent_inactive_with_its_reason() {
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
    logs_server.push(refused_record("s2", &i.id, 1, "spec.replicas: at most 256"));
    let s = wait_status(&mut watch, |s| {
        s.intent_id == i.id && s.state == pb::ServiceState::Inactive as i32
    })
    .await;
    assert_eq!(
        reasons_from_proto("reasons", s.reasons).unwrap(),
        vec![StatusReason::Failed {
            domain: String::new(),
            error: "site s2 refused blueprint web: spec.replicas: at most 256".into()
        }]
    );
    d.stop().await;
    stop_logs.cancel();
}
