//! An intent's rollout at the domain: the sites the rollout admits run the new generation, the
//! others keep byte for byte what they ran; (generation, step) orders the applies; sites report
//! health verdicts and local pauses as typed reasons. Real server, real sled, real bare Git
//! remote (and the test kit's log server for the reports).

mod common;

use common::*;
use maestro_common::contract::{
    ANN_FALL_BACK_AFTER, ANN_INTENT_GENERATION, STATUS_FELL_BACK, STATUS_UNHEALTHY,
    fell_back_status, unhealthy_status,
};
use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::intent::v1 as pb;
use maestro_proto::logs::v1 as logs;
use serde_json::Value;
use std::collections::BTreeMap;

const A: &str = "sites/a/ProcessDeployment/web.json";
const B: &str = "sites/b/ProcessDeployment/web.json";

/// Generation 2 (3 replicas) at rollout `step`, run by `sites`; the others keep generation 1.
fn wave(step: u64, sites: &[&str]) -> pb::Intent {
    let gen1 = intent("web", 1, 2);
    pb::Intent {
        rollout: Some(pb::IntentRollout {
            step,
            sites: sites.iter().map(ToString::to_string).collect(),
            previous: Some(pb::PreviousSpec {
                generation: 1,
                order_id: gen1.order_id,
                spec_id: gen1.spec_id,
                spec_version: gen1.spec_version,
                characteristics_json: gen1.characteristics_json,
                blueprint_templates_json: gen1.blueprint_templates_json,
                traceparent: String::new(),
            }),
            fall_back_after: 3,
        }),
        ..intent("web", 2, 3)
    }
}

async fn start(dir: &std::path::Path, log_server: Option<String>) -> Domain {
    Domain::start_with(&dir.join("data"), &remote_path(dir), log_server, |c| {
        c.sites = vec!["a".into(), "b".into()];
    })
    .await
}

/// Waits for a commit of intent `id` other than `previous`, and returns the status holding it.
async fn next_commit(
    watch: &mut tonic::Streaming<pb::IntentStatus>,
    id: &str,
    previous: &str,
) -> pb::IntentStatus {
    wait_status(watch, |s| {
        s.intent_id == id && !s.commit.is_empty() && s.commit != previous
    })
    .await
}

fn doc(files: &BTreeMap<String, String>, path: &str) -> Value {
    serde_json::from_str(&files[path]).unwrap()
}

fn desired(s: &pb::IntentStatus) -> Vec<(String, u64)> {
    s.sites
        .iter()
        .map(|s| (s.site.clone(), s.desired_generation))
        .collect()
}

#[tokio::test]
async fn a_rollout_moves_sites_in_steps_and_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = start(dir.path(), None).await;
    let mut watch = d.watch().await;
    let id = intent("web", 1, 2).id;

    apply(&mut d.client, intent("web", 1, 2)).await;
    let s = wait_committed(&mut watch, &id, 1).await;
    let gen1 = branch(&remote).unwrap().files;
    assert_eq!(doc(&gen1, A)["spec"]["replicas"], 2);

    // Step 1: only a runs generation 2; b keeps exactly what it ran.
    let out = apply(&mut d.client, wave(1, &["a"])).await;
    assert_eq!(
        (out.stored_generation, out.stored_step, out.changed),
        (2, 1, true)
    );
    let s = next_commit(&mut watch, &id, &s.commit).await;
    assert_eq!(desired(&s), [("a".into(), 2), ("b".into(), 1)]);
    let b1 = branch(&remote).unwrap();
    assert!(
        b1.message
            .starts_with("maestro: web gen 2 step 1 (order order-2"),
        "{}",
        b1.message
    );
    let a = doc(&b1.files, A);
    assert_eq!(a["spec"]["replicas"], 3);
    let ann = &a["metadata"]["annotations"];
    assert_eq!(
        (&ann[ANN_INTENT_GENERATION], &ann[ANN_FALL_BACK_AFTER]),
        (&Value::from("2"), &Value::from("3"))
    );
    assert_eq!(b1.files[B], gen1[B], "b is byte-identical to generation 1");

    // A retry of the step is unchanged, a late step is ignored: nothing is published.
    let runs = *d.ctx.reconciled().borrow();
    let again = apply(&mut d.client, wave(1, &["a"])).await;
    assert_eq!(
        (again.stored_generation, again.stored_step, again.changed),
        (2, 1, false)
    );
    let late = apply(&mut d.client, wave(0, &[])).await;
    assert_eq!(
        (late.stored_generation, late.stored_step, late.changed),
        (2, 1, false)
    );
    let plain = apply(&mut d.client, intent("web", 2, 3)).await;
    assert_eq!(
        (plain.stored_step, plain.changed),
        (1, false),
        "no rollout is step 0"
    );
    d.wait_runs(runs + 1).await;
    assert_eq!(branch(&remote).unwrap().head, b1.head);
    let stored = d
        .client
        .get_intent(pb::GetIntentRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .intent
        .unwrap();
    assert_eq!(stored.rollout, wave(1, &["a"]).rollout, "the stored step");

    // The plan of step 2 shows what moves: b, and only its replicas.
    let plan = d
        .client
        .plan_intent(pb::ApplyIntentRequest {
            intent: Some(wave(2, &["a", "b"])),
        })
        .await
        .unwrap()
        .into_inner();
    let changes: Vec<(&str, i32, Vec<&str>)> = plan
        .changes
        .iter()
        .map(|c| {
            let fields = c.fields.iter().map(|f| f.path.as_str()).collect();
            (c.site.as_str(), c.action, fields)
        })
        .collect();
    assert_eq!(
        changes,
        [(
            "b",
            pb::ChangeAction::Change as i32,
            vec![
                "metadata.annotations[\"maestro.io/fall-back-after\"]",
                "spec.replicas"
            ]
        )],
        "{plan:?}"
    );

    // Step 2: both run generation 2.
    let out = apply(&mut d.client, wave(2, &["a", "b"])).await;
    assert_eq!((out.stored_step, out.changed), (2, true));
    let s = next_commit(&mut watch, &id, &b1.head).await;
    assert_eq!(desired(&s), [("a".into(), 2), ("b".into(), 2)]);
    let b2 = branch(&remote).unwrap();
    assert_eq!(b2.files[A], b1.files[A], "a did not move");
    assert_eq!(doc(&b2.files, B)["spec"]["replicas"], 3);
    assert_eq!(
        doc(&b2.files, B)["metadata"]["annotations"][ANN_INTENT_GENERATION],
        "2"
    );

    // Step 3 admits no site: a rollback, both are back on generation 1 byte for byte.
    let out = apply(&mut d.client, wave(3, &[])).await;
    assert_eq!((out.stored_step, out.changed), (3, true));
    let s = next_commit(&mut watch, &id, &b2.head).await;
    assert_eq!(desired(&s), [("a".into(), 1), ("b".into(), 1)]);
    let b3 = branch(&remote).unwrap();
    assert_eq!(b3.files, gen1, "the whole tree is generation 1's again");

    // A deletion still removes everything.
    let del = d
        .client
        .delete_intent(pb::DeleteIntentRequest {
            id: id.clone(),
            generation: 3,
            order_id: "order-3".into(),
            order_item_id: "1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (del.stored_generation, del.stored_step, del.changed),
        (3, 0, true)
    );
    wait_committed(&mut watch, &id, 3).await;
    let gone = branch(&remote).unwrap();
    assert!(
        !gone.files.keys().any(|f| f.starts_with("sites/")),
        "{:?}",
        gone.files.keys()
    );
    d.stop().await;
}

fn health_record(site: &str, intent_id: &str) -> logs::Record {
    let mut r = status_record(site, "web", intent_id, 2, false);
    let ann = BTreeMap::from([(ANN_INTENT_GENERATION.to_string(), "2".to_string())]);
    if let Some(logs::record::Body::Status(s)) = r.body.as_mut() {
        s.status_json = serde_json::json!({
            STATUS_UNHEALTHY: unhealthy_status(3, "connection refused", &ann),
            STATUS_FELL_BACK: fell_back_status(3, &ann),
        })
        .to_string();
    }
    r
}

fn paused_heartbeat(site: &str, since_ms: i64) -> logs::Record {
    let mut r = heartbeat_record(site);
    r.body = Some(logs::record::Body::Heartbeat(logs::SiteHeartbeat {
        paused: "valve inspection".into(),
        paused_since: Some(maestro_common::time::timestamp(since_ms)),
        ..Default::default()
    }));
    r
}

fn site_reasons(s: &pb::IntentStatus, site: &str) -> Vec<StatusReason> {
    let entry = s.sites.iter().find(|e| e.site == site);
    entry
        .map(|e| reasons_from_proto("reasons", e.reasons.clone()).unwrap())
        .unwrap_or_default()
}

#[tokio::test]
async fn health_verdicts_and_a_local_pause_are_typed_reasons_of_their_sites() {
    let dir = tempfile::tempdir().unwrap();
    let (logs_server, endpoint, stop_logs) = fake_logs().await;
    let mut d = start(dir.path(), Some(endpoint)).await;
    let mut watch = d.watch().await;
    let id = intent("web", 1, 2).id;
    apply(&mut d.client, intent("web", 1, 2)).await;
    wait_committed(&mut watch, &id, 1).await;
    apply(&mut d.client, wave(1, &["a"])).await;
    wait_status(&mut watch, |s| {
        s.intent_id == id && !s.commit.is_empty() && desired(s)[0].1 == 2
    })
    .await;

    logs_server.push(health_record("a", &id));
    logs_server.push(paused_heartbeat("b", 1_700_000_000_000));
    let s = wait_status(&mut watch, |s| {
        let fell_back = |r: &StatusReason| matches!(r, StatusReason::FellBack { .. });
        let paused = |r: &StatusReason| matches!(r, StatusReason::SitePaused { .. });
        s.intent_id == id
            && site_reasons(s, "a").iter().any(fell_back)
            && site_reasons(s, "b").iter().any(paused)
    })
    .await;
    assert_eq!(
        site_reasons(&s, "a")[..2],
        [
            StatusReason::FellBack {
                blueprint: "web".into(),
                from_generation: 2,
                attempts: 3,
            },
            StatusReason::Unhealthy {
                blueprint: "web".into(),
                generation: 2,
                attempts: 3,
                message: "connection refused".into(),
            },
        ]
    );
    assert_eq!(
        site_reasons(&s, "b")[0],
        StatusReason::SitePaused {
            site: "b".into(),
            reason: "valve inspection".into(),
            since_ms: Some(1_700_000_000_000),
        }
    );
    d.stop().await;
    stop_logs.cancel();
}
