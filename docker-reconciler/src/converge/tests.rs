use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use colony::model::Blueprint;
use reconciler::{Reconciler, converge_blueprint, remove_blueprint};
use serde_json::{Value, json};

use crate::runtime::ContainerState;
use crate::spec::{DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT};
use crate::{DockerReconciler, FakeRuntime, Settings, labels};
use tokio_util::sync::CancellationToken;

/// Bound of a wait in these tests.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What one convergence did, with the status JSON the framework writes.
#[derive(Debug)]
struct Converged {
    done: Vec<String>,
    errors: Vec<String>,
    status: Option<Value>,
}

fn docker(rt: &FakeRuntime) -> DockerReconciler {
    docker_stopping_on(rt, CancellationToken::new())
}

/// A reconciler over `rt` whose agent stops when `stopping` is cancelled.
fn docker_stopping_on(rt: &FakeRuntime, stopping: CancellationToken) -> DockerReconciler {
    DockerReconciler::new(
        Arc::new(rt.clone()),
        Settings {
            colony: "site".into(),
            default_network_mode: "host".into(),
        },
        stopping,
    )
}

fn bp(generation: i64, replicas: u32, image: &str) -> Blueprint {
    let mut b = Blueprint::new(
        DOCKER_DEPLOYMENT,
        "web",
        "site",
        json!({"replicas": replicas, "instances": [{"name": "app", "image": image,
               "ports": [{"host": 8080, "container": 8080}]}]}),
    );
    b.metadata.generation = generation;
    b
}

async fn converge(rt: &FakeRuntime, b: &Blueprint) -> Converged {
    let c = converge_blueprint(&docker(rt), b).await.unwrap();
    let mut errors = c.outcome.errors;
    if let Some(reason) = &c.invalid_spec {
        errors.push(format!("invalid spec: {reason}"));
    }
    Converged {
        done: c.outcome.done,
        errors,
        status: Some(
            c.status
                .to_json(b.metadata.generation, c.message.as_deref(), "now"),
        ),
    }
}

fn running(rt: &FakeRuntime) -> Vec<(String, Option<i64>)> {
    let mut v: Vec<_> = rt
        .containers()
        .into_iter()
        .filter(|c| c.state == ContainerState::Running)
        .map(|c| (c.name.clone(), c.generation()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn creates_then_is_idempotent() {
    let rt = FakeRuntime::with_images(["img:1"]);
    let out = converge(&rt, &bp(1, 2, "img:1")).await;
    assert!(out.errors.is_empty(), "{out:?}");
    assert_eq!(out.done.len(), 2);
    let status = out.status.unwrap();
    assert_eq!(status["runningInstances"], 2);
    assert_eq!(status["totalInstances"], 2);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["instances"][0]["type"], "container");
    assert_eq!(status["instances"][0]["name"], "web-app-0");
    assert_eq!(status["instances"][0]["ports"], "8080:8080/tcp");
    let again = converge(&rt, &bp(1, 2, "img:1")).await;
    assert!(again.done.is_empty() && again.errors.is_empty());
    assert_eq!(rt.operations().len(), 2);
}

#[tokio::test]
async fn a_new_image_replaces_and_scaling_keeps_running_containers() {
    let rt = FakeRuntime::with_images(["img:1", "img:2"]);
    converge(&rt, &bp(1, 1, "img:1")).await;
    let first = rt.containers()[0].id.clone();
    let out = converge(&rt, &bp(2, 1, "img:2")).await;
    assert!(out.errors.is_empty(), "{out:?}");
    let now = rt.containers();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, first);
    assert_eq!(now[0].image, "img:2");
    let kept = now[0].id.clone();
    // Only replicas change: the running container stays (with the generation it was made at).
    converge(&rt, &bp(3, 3, "img:2")).await;
    assert_eq!(
        running(&rt),
        [
            ("web-app-0".into(), Some(2)),
            ("web-app-1".into(), Some(3)),
            ("web-app-2".into(), Some(3))
        ]
    );
    converge(&rt, &bp(4, 1, "img:2")).await;
    assert_eq!(running(&rt), [("web-app-0".into(), Some(2))]);
    assert_eq!(rt.containers()[0].id, kept, "never replaced");
}

#[tokio::test]
async fn killed_and_deleted_containers_come_back() {
    let rt = FakeRuntime::with_images(["img:1"]);
    converge(&rt, &bp(1, 2, "img:1")).await;
    let ids: Vec<String> = rt.containers().into_iter().map(|c| c.id).collect();
    rt.kill(&ids[0]);
    rt.delete(&ids[1]);
    let out = converge(&rt, &bp(1, 2, "img:1")).await;
    assert!(out.errors.is_empty(), "{out:?}");
    assert!(
        out.done.iter().any(|l| l.contains("last output")),
        "{out:?}"
    );
    assert_eq!(running(&rt).len(), 2);
    assert!(
        rt.containers().iter().any(|c| c.id == ids[0]),
        "restarted in place"
    );
}

#[tokio::test]
async fn missing_image_is_an_error_in_status() {
    let rt = FakeRuntime::with_images(Vec::<String>::new());
    let out = converge(&rt, &bp(1, 1, "nope:1")).await;
    assert_eq!(out.errors.len(), 1);
    assert!(out.errors[0].contains("nope:1"), "{out:?}");
    let status = out.status.unwrap();
    assert_eq!(status["runningInstances"], 0);
    assert_eq!(status["totalInstances"], 1);
    assert!(status["message"].as_str().unwrap().contains("nope:1"));
}

#[tokio::test]
async fn invalid_spec_keeps_containers_and_reports() {
    let rt = FakeRuntime::with_images(["img:1"]);
    converge(&rt, &bp(1, 1, "img:1")).await;
    let mut bad = bp(2, 1, "img:1");
    bad.spec = json!({"instances": []});
    let out = converge(&rt, &bad).await;
    assert!(out.errors[0].contains("spec.instances"));
    assert_eq!(rt.containers().len(), 1);
    assert!(
        out.status.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("invalid spec")
    );
}

#[tokio::test]
async fn cleanup_and_orphans_touch_only_their_colony() {
    let rt = FakeRuntime::with_images(["img:1"]);
    converge(&rt, &bp(1, 2, "img:1")).await;
    let mut labels = BTreeMap::new();
    labels.insert(labels::MANAGED.to_string(), "true".to_string());
    labels.insert(labels::COLONY.to_string(), "elsewhere".to_string());
    labels.insert(labels::BLUEPRINT.to_string(), "web".to_string());
    let foreign = rt.insert("foreign", "img:1", labels.clone());
    labels.insert(labels::COLONY.to_string(), "site".to_string());
    labels.insert(labels::BLUEPRINT.to_string(), "gone".to_string());
    let orphan = rt.insert("gone-app-0", "img:1", labels.clone());
    labels.insert(labels::KIND.to_string(), "SomethingElse".to_string());
    let not_ours = rt.insert("other-kind", "img:1", labels);

    let d = docker(&rt);
    let existing = d.existing().await.unwrap();
    assert_eq!(
        existing,
        BTreeSet::from(["web".to_string(), "gone".to_string()])
    );
    let out = remove_blueprint(&d, "gone").await.unwrap();
    assert_eq!(out.done.len(), 1, "{out:?}");
    assert!(rt.containers().iter().all(|c| c.id != orphan));

    let out = remove_blueprint(&d, "web").await.unwrap();
    assert_eq!(out.done.len(), 2);
    let left: BTreeSet<String> = rt.containers().into_iter().map(|c| c.id).collect();
    assert_eq!(left, [foreign, not_ours].into());
}

#[tokio::test]
async fn executor_deployment_converges() {
    let rt = FakeRuntime::with_images(["exec:1"]);
    let mut b = Blueprint::new(
        EXECUTOR_DEPLOYMENT,
        "workers",
        "site",
        json!({"image": "exec:1", "executorType": "ml", "replicas": 2}),
    );
    b.metadata.generation = 1;
    let out = converge(&rt, &b).await;
    assert!(out.errors.is_empty(), "{out:?}");
    assert_eq!(
        running(&rt),
        [("workers-0".into(), Some(1)), ("workers-1".into(), Some(1))]
    );
    let c = rt.containers();
    let d = rt.created_from(&c[0].id).unwrap();
    assert_eq!(d.env["COLONIES_EXECUTOR_TYPE"], "ml");
    assert_eq!(c[0].label(labels::KIND), EXECUTOR_DEPLOYMENT);
}

#[tokio::test]
async fn failed_health_checks_are_counted_in_a_row_and_never_fall_back() {
    use crate::runtime::Health;
    const GENERATION: &str = "maestro.io/intent-generation";
    let rt = FakeRuntime::with_images(["img:1"]);
    let mut b = bp(1, 1, "img:1");
    b.metadata.annotations.insert(GENERATION.into(), "4".into());
    b.metadata
        .annotations
        .insert("maestro.io/fall-back-after".into(), "1".into());
    let d = docker(&rt);
    let verdict = async |b: &Blueprint| converge_blueprint(&d, b).await.unwrap().verdict;
    assert_eq!(verdict(&b).await, None, "no check: no verdict");
    rt.set_health("web-app-0", Some(Health::Starting));
    assert_eq!(verdict(&b).await, None, "starting is no failure yet");
    rt.set_health("web-app-0", Some(Health::Unhealthy));
    for attempts in 1..=3 {
        assert_eq!(
            verdict(&b).await,
            Some(reconciler::Verdict::Unhealthy {
                attempts,
                message: "container web-app-0 is unhealthy".into()
            }),
            "counted, and never fallen back from: nothing earlier is kept"
        );
    }
    // A changed blueprint starts a new count; a pass clears it.
    b.metadata.annotations.insert(GENERATION.into(), "5".into());
    assert!(matches!(
        verdict(&b).await,
        Some(reconciler::Verdict::Unhealthy { attempts: 1, .. })
    ));
    rt.set_health("web-app-0", Some(Health::Healthy));
    assert_eq!(verdict(&b).await, None);
    assert!(running(&rt).len() == 1, "{:?}", rt.containers());
}

#[tokio::test]
async fn a_stop_ends_the_wait_for_a_new_containers_health_and_leaves_it_running() {
    let rt = FakeRuntime::with_images(["img:1"]);
    rt.hold_probes();
    let mut b = bp(1, 1, "img:1");
    b.spec["instances"][0]["healthCheck"] =
        json!({"command": ["/bin/true"], "startPeriodSeconds": 600});
    let stopping = CancellationToken::new();
    let d = docker_stopping_on(&rt, stopping.clone());
    let converging = tokio::spawn(async move { converge_blueprint(&d, &b).await });
    let created = || rt.operations().contains(&"create web-app-0".to_string());
    maestro_testkit::until("the container created", WAIT, async || {
        Ok(created().then_some(()))
    })
    .await
    .unwrap();
    stopping.cancel();
    let c = tokio::time::timeout(WAIT, converging)
        .await
        .expect("the convergence ends when the agent stops, not after the check's 10 minutes")
        .unwrap()
        .unwrap();
    assert!(
        c.outcome
            .errors
            .iter()
            .any(|e| e.contains("not judged: the agent is stopping")),
        "{:?}",
        c.outcome.errors
    );
    assert_eq!(running(&rt), [("web-app-0".to_string(), Some(1))]);
    assert_eq!(c.verdict, None, "a wait cut short counts no failed check");
}
