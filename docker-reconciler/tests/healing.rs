//! Self-healing against a real Docker Engine: scaling, killed containers, strays and orphans,
//! and cleanup when a blueprint is removed.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::query_parameters::KillContainerOptions;
use common::{Harness, WAIT, container_name, label, state};
use docker_reconciler::{DOCKER_DEPLOYMENT, labels};
use maestro_testkit::until;
use serde_json::{Value, json};

const CRON: Duration = Duration::from_secs(60);

fn sleeper(replicas: u32) -> Value {
    json!({"replicas": replicas, "instances": [{
        "name": "s", "image": "local/busybox:1", "command": ["/bin/sleep", "3600"]
    }]})
}

fn managed_labels(h: &Harness, blueprint: &str, generation: i64) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::BLUEPRINT.to_string(), blueprint.to_string()),
        (labels::GENERATION.to_string(), generation.to_string()),
        (labels::COLONY.to_string(), h.colony.clone()),
    ])
}

#[tokio::test]
async fn scales_up_and_down() -> Result<()> {
    let h = Harness::start("scale", CRON).await?;
    let name = h.name("sl");
    h.add(DOCKER_DEPLOYMENT, &name, sleeper(1)).await?;
    let slot = |i: u32| format!("{name}-s-{i}");
    let first = h.wait_running(&name, &[slot(0)], 0).await?[0].id.clone();
    // Only replicas change: the running container is never touched (it keeps the generation
    // label it was made with); the status is converged at the new generation.
    let g = h.update(&name, |s| s["replicas"] = json!(2)).await?;
    let up = h.wait_running_at(&name, &[slot(0), slot(1)], None).await?;
    h.wait_status(&name, 2, g).await?;
    assert_eq!(up[0].id, first, "scaling up kept {}", slot(0));
    assert_eq!(label(&up[1], labels::GENERATION), g.to_string());
    let g = h.update(&name, |s| s["replicas"] = json!(1)).await?;
    let down = h.wait_running_at(&name, &[slot(0)], None).await?;
    h.wait_status(&name, 1, g).await?;
    assert_eq!(down[0].id, first, "scaling down kept {}", slot(0));
    h.finish().await
}

#[tokio::test]
async fn killed_container_comes_back_and_strays_go() -> Result<()> {
    let h = Harness::start("heal", CRON).await?;
    let name = h.name("hl");
    h.add(DOCKER_DEPLOYMENT, &name, sleeper(1)).await?;
    let want = vec![format!("{name}-s-0")];
    let list = h.wait_running(&name, &want, 0).await?;
    let id = list[0].id.clone().context("id")?;

    h.docker
        .kill_container(&id, None::<KillContainerOptions>)
        .await?;
    until("the killed container to exit", WAIT, async || {
        let list = h.containers(&name).await?;
        Ok(list.iter().all(|c| state(c) != "running").then_some(()))
    })
    .await?;
    h.client
        .reconcile_blueprint(&h.member, &h.colony, &name, false)
        .await?;
    let back = h.wait_running(&name, &want, 0).await?;
    assert_eq!(
        back[0].id.as_deref(),
        Some(id.as_str()),
        "restarted in place"
    );

    let stray = format!("{name}-by-hand");
    h.create_by_hand(&stray, managed_labels(&h, &name, 0))
        .await?;
    assert!(
        h.containers(&name)
            .await?
            .iter()
            .any(|c| container_name(c) == stray)
    );
    h.client
        .reconcile_blueprint(&h.member, &h.colony, &name, false)
        .await?;
    h.wait_running(&name, &want, 0).await?;
    h.finish().await
}

#[tokio::test]
async fn orphans_are_removed_by_the_self_healing_run() -> Result<()> {
    // The colony submits `reconcile {kind}` every second here instead of every minute.
    let h = Harness::start("orphan", Duration::from_secs(1)).await?;
    let name = h.name("keep");
    h.add(DOCKER_DEPLOYMENT, &name, sleeper(1)).await?;
    let want = vec![format!("{name}-s-0")];
    h.wait_running(&name, &want, 0).await?;
    let ghost = h.name("ghost");
    h.create_by_hand(&format!("{ghost}-s-0"), managed_labels(&h, &ghost, 0))
        .await?;
    until("the orphan to be removed", WAIT, async || {
        Ok(h.containers(&ghost).await?.is_empty().then_some(()))
    })
    .await?;
    // The blueprint that exists is left alone.
    h.wait_running(&name, &want, 0).await?;
    h.finish().await
}

#[tokio::test]
async fn removing_the_blueprint_removes_its_containers() -> Result<()> {
    let h = Harness::start("cleanup", CRON).await?;
    let name = h.name("gone");
    h.add(DOCKER_DEPLOYMENT, &name, sleeper(2)).await?;
    h.wait_running(&name, &[format!("{name}-s-0"), format!("{name}-s-1")], 0)
        .await?;
    h.client
        .remove_blueprint(&h.member, &h.colony, &name)
        .await?;
    until("cleanup to remove every container", WAIT, async || {
        Ok(h.containers(&name).await?.is_empty().then_some(()))
    })
    .await?;
    h.finish().await
}
