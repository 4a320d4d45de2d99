//! Blueprint definitions, blueprints, reconcile/cleanup processes, self-healing loop, restart.

mod common;

use std::time::Duration;

use colony::{Blueprint, BlueprintDefinition, Colony, FunctionSpec, PrivateKey, Process};
use common::{COLONY, Harness, guard};
use serde_json::{Value, json};

const KIND: &str = "DockerDeployment";
const HANDLER: &str = "docker-reconciler";

fn definition() -> BlueprintDefinition {
    let mut def = BlueprintDefinition::new(
        "dockerdeployments.colonyos.io",
        COLONY,
        "colonyos.io",
        KIND,
        HANDLER,
        "reconcile",
    );
    def.spec.schema = Some(json!({
        "type": "object",
        "required": ["instances"],
        "properties": {
            "replicas": {"type": "integer"},
            "instances": {"type": "array", "items": {
                "type": "object",
                "required": ["name", "image"],
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string", "enum": ["container"]},
                    "image": {"type": "string"},
                    "ports": {"type": "array", "items": {"type": "object", "properties": {
                        "host": {"type": "integer"},
                        "protocol": {"type": "string", "enum": ["tcp", "udp"]}
                    }}}
                }
            }}
        }
    }));
    def
}

fn spec(image: &str) -> Value {
    json!({"instances": [{"name": "web", "type": "container", "image": image,
                          "ports": [{"host": 8080, "protocol": "tcp"}], "hostPath": "/extra"}]})
}

struct Site {
    h: Harness,
    user: PrivateKey,
    reconciler: PrivateKey,
}

async fn site(interval: Duration) -> Site {
    let h = Harness::start_with_interval(interval).await;
    h.add_colony().await;
    guard(
        h.client
            .add_blueprint_definition(&h.owner_key, &definition()),
    )
    .await
    .unwrap();
    let user = h.user("agent").await;
    let reconciler = h.approved_executor("docker-1", HANDLER, "").await;
    Site {
        h,
        user,
        reconciler,
    }
}

async fn next(s: &Site) -> Option<Process> {
    guard(s.h.client.assign(&s.reconciler, COLONY, -1))
        .await
        .unwrap()
}

async fn finish(s: &Site, p: &Process) {
    guard(
        s.h.client
            .close_successful(&s.reconciler, &p.process_id, vec![]),
    )
    .await
    .unwrap();
}

fn kwargs(p: &Process) -> Value {
    Value::Object(p.spec.kwargs.clone())
}

#[tokio::test]
async fn add_submits_reconcile_with_kind_and_name() {
    let s = site(Duration::from_secs(3600)).await;
    let defs = guard(s.h.client.get_blueprint_definitions(&s.user, COLONY))
        .await
        .unwrap();
    assert_eq!(defs.len(), 1);
    let bp = Blueprint::new(KIND, "web", COLONY, spec("nginx:1"));
    let added = guard(s.h.client.add_blueprint(&s.user, &bp)).await.unwrap();
    assert_eq!(added.metadata.generation, 0);
    assert!(!added.blueprint_id.is_empty());

    let p = next(&s).await.expect("reconcile process");
    assert_eq!(p.spec.func_name, "reconcile");
    assert_eq!(p.spec.conditions.executor_type, HANDLER);
    assert_eq!(kwargs(&p), json!({"kind": KIND, "blueprintName": "web"}));
    assert!(next(&s).await.is_none());
    finish(&s, &p).await;

    let got = guard(s.h.client.get_blueprint(&s.user, COLONY, "web"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.spec, spec("nginx:1"));
    // As upstream v1.9.12, the server does not record the reconcile process on the blueprint.
    assert!(got.metadata.last_reconciliation_process.is_empty());
    assert!(
        guard(s.h.client.get_blueprint(&s.user, COLONY, "nope"))
            .await
            .unwrap()
            .is_none()
    );

    // Duplicate name: 409.
    let err = guard(s.h.client.add_blueprint(&s.user, &bp))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    // Unknown kind: 400.
    let other = Blueprint::new("Unknown", "x", COLONY, json!({}));
    let err = guard(s.h.client.add_blueprint(&s.user, &other))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    // Strangers: 403.
    let err = guard(s.h.client.add_blueprint(&PrivateKey::generate(), &bp))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
}

#[tokio::test]
async fn schema_violation_names_the_field() {
    let s = site(Duration::from_secs(3600)).await;
    let cases = [
        (json!({}), "instances"),
        (json!({"instances": [{"name": "a"}]}), "instances[0].image"),
        (
            json!({"instances": [{"name": "a", "image": "i", "ports": [{"protocol": "sctp"}]}]}),
            "instances[0].ports[0].protocol",
        ),
        (json!({"instances": [], "replicas": "two"}), "replicas"),
    ];
    for (spec, field) in cases {
        let bp = Blueprint::new(KIND, "bad", COLONY, spec);
        match guard(s.h.client.add_blueprint(&s.user, &bp)).await {
            Err(colony::ColonyError::Api { status, message }) => {
                assert_eq!(status, 400);
                assert!(message.contains(field), "{message} should name {field}");
            }
            other => panic!("expected 400, got {other:?}"),
        }
    }
    assert!(next(&s).await.is_none());
}

#[tokio::test]
async fn update_status_reconcile_remove_and_history() {
    let s = site(Duration::from_secs(3600)).await;
    let c = &s.h.client;
    let mut bp = Blueprint::new(KIND, "web", COLONY, spec("nginx:1"));
    bp = guard(c.add_blueprint(&s.user, &bp)).await.unwrap();
    let first = next(&s).await.unwrap();
    finish(&s, &first).await;

    // Metadata-only update: same generation, no process.
    bp.metadata.labels.insert("team".into(), "ops".into());
    let updated = guard(c.update_blueprint(&s.user, &bp, false))
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, 0);
    assert_eq!(updated.metadata.labels["team"], "ops");
    assert!(next(&s).await.is_none());

    // Spec change: generation 1 (upstream starts at 0) and an immediate reconcile.
    bp.spec = spec("nginx:2");
    let updated = guard(c.update_blueprint(&s.user, &bp, false))
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, 1);
    let p = next(&s).await.expect("reconcile after spec change");
    assert_eq!(kwargs(&p), json!({"kind": KIND, "blueprintName": "web"}));
    finish(&s, &p).await;

    // Forced update without a spec change bumps too.
    let updated = guard(c.update_blueprint(&s.user, &bp, true)).await.unwrap();
    assert_eq!(updated.metadata.generation, 2);
    finish(&s, &next(&s).await.unwrap()).await;

    // Status update by the reconciler: no generation bump, no process.
    let status = json!({"runningInstances": 1, "totalInstances": 1, "instances": []});
    guard(c.update_blueprint_status(&s.reconciler, COLONY, "web", status.clone()))
        .await
        .unwrap();
    let got = guard(c.get_blueprint(&s.reconciler, COLONY, "web"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.metadata.generation, 2);
    assert_eq!(got.status, status);
    assert!(next(&s).await.is_none());

    // Reconcile: plain keeps the generation, force bumps it and passes force.
    let p = guard(c.reconcile_blueprint(&s.user, COLONY, "web", false))
        .await
        .unwrap();
    assert_eq!(kwargs(&p), json!({"kind": KIND, "blueprintName": "web"}));
    finish(&s, &next(&s).await.unwrap()).await;
    let p = guard(c.reconcile_blueprint(&s.user, COLONY, "web", true))
        .await
        .unwrap();
    assert_eq!(kwargs(&p)["force"], true);
    finish(&s, &next(&s).await.unwrap()).await;
    let got = guard(c.get_blueprint(&s.user, COLONY, "web"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.metadata.generation, 3);

    // Listing by kind and location.
    let mut north = Blueprint::new(KIND, "db", COLONY, spec("postgres"));
    north.metadata.location_name = "north".into();
    guard(c.add_blueprint(&s.user, &north)).await.unwrap();
    let all = guard(c.get_blueprints(&s.user, COLONY, Some(KIND), None))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let at_north = guard(c.get_blueprints(&s.user, COLONY, Some(KIND), Some("north")))
        .await
        .unwrap();
    assert_eq!(at_north.len(), 1);
    assert_eq!(at_north[0].metadata.name, "db");
    // The north process is only for executors at north.
    assert!(next(&s).await.is_none());

    // History: create + update(spec) + update(force).
    let history = guard(c.get_blueprint_history(&s.user, &got.blueprint_id, 0))
        .await
        .unwrap();
    let gens: Vec<i64> = history.iter().map(|e| e.generation).collect();
    assert_eq!(gens, [2, 1, 0]);

    // Definition in use: 409.
    let err = guard(c.remove_blueprint_definition(
        &s.h.owner_key,
        COLONY,
        "dockerdeployments.colonyos.io",
    ))
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(409));

    // Remove: cleanup process with {blueprintName, kind}.
    guard(c.remove_blueprint(&s.user, COLONY, "web"))
        .await
        .unwrap();
    let p = next(&s).await.expect("cleanup process");
    assert_eq!(p.spec.func_name, "cleanup");
    assert_eq!(kwargs(&p), json!({"blueprintName": "web", "kind": KIND}));
    assert!(
        guard(c.get_blueprint(&s.user, COLONY, "web"))
            .await
            .unwrap()
            .is_none()
    );
    let err = guard(c.remove_blueprint(&s.user, COLONY, "web"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn self_healing_loop_submits_kind_only() {
    let s = site(Duration::from_millis(200)).await;
    let bp = Blueprint::new(KIND, "web", COLONY, spec("nginx:1"));
    guard(s.h.client.add_blueprint(&s.user, &bp)).await.unwrap();
    let first = next(&s).await.unwrap();
    assert!(first.spec.kwargs.contains_key("blueprintName"));
    finish(&s, &first).await;
    // The next one comes from the loop: long-poll wakes on its submission.
    let p = guard(s.h.client.assign(&s.reconciler, COLONY, 10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kwargs(&p), json!({"kind": KIND}));
    assert_eq!(p.spec.func_name, "reconcile");
    finish(&s, &p).await;
}

#[tokio::test]
async fn state_survives_restart() {
    let mut s = site(Duration::from_secs(3600)).await;
    let bp = Blueprint::new(KIND, "web", COLONY, spec("nginx:1"));
    guard(s.h.client.add_blueprint(&s.user, &bp)).await.unwrap();
    let user = s.user.clone();
    let p = guard(
        s.h.client
            .submit(&user, &FunctionSpec::new("job", COLONY, HANDLER)),
    )
    .await
    .unwrap();

    s.h.restart().await;

    let c = &s.h.client;
    let colonies = guard(c.get_colonies(&s.h.server_key)).await.unwrap();
    assert_eq!(
        colonies,
        vec![Colony {
            colony_id: s.h.owner_key.id(),
            name: COLONY.into()
        }]
    );
    assert_eq!(
        guard(c.get_executors(&user, COLONY)).await.unwrap().len(),
        1
    );
    let got = guard(c.get_blueprint(&user, COLONY, "web"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.metadata.generation, 0);
    assert_eq!(
        guard(c.get_process(&user, &p.process_id))
            .await
            .unwrap()
            .process_id,
        p.process_id
    );
    // The queue survived, in order: reconcile first, then the job.
    let first = next(&s).await.unwrap();
    assert_eq!(first.spec.func_name, "reconcile");
    let second = next(&s).await.unwrap();
    assert_eq!(second.process_id, p.process_id);
}
