//! Rollouts that wait for health checks, against a real Docker Engine: a new version replaces
//! the containers one at a time and each new container passes its health check before the next
//! old one stops (sampled all along: at least one healthy container at every moment), and a
//! version that never becomes healthy stops the rollout with the old container still serving;
//! the agent's stop does not wait for a new container's health.

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{Harness, WAIT, container_name, label, state};
use docker_reconciler::{DOCKER_DEPLOYMENT, labels};
use maestro_testkit::until;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const CRON: Duration = Duration::from_secs(60);

/// Two replicas that become ready a second after they start; healthy when `ready_file` exists.
fn spec(version: &str, ready_file: &str) -> Value {
    json!({
        "replicas": 2,
        "instances": [{
            "name": "app", "type": "container", "image": "local/busybox:1",
            "command": ["/bin/sh", "-c", "sleep 1; echo ok > /tmp/ready; exec sleep 3600"],
            "env": {"VERSION": version},
            "healthCheck": {"command": ["/bin/cat", ready_file],
                            "intervalSeconds": 1, "timeoutSeconds": 2, "retries": 2}
        }]
    })
}

fn healthy(c: &bollard::models::ContainerSummary) -> bool {
    state(c) == "running" && c.status.as_deref().is_some_and(|s| s.contains("(healthy)"))
}

#[tokio::test]
async fn rollout_waits_for_health_and_stops_at_an_unhealthy_version() -> Result<()> {
    let h = Harness::start("health", CRON).await?;
    let name = h.name("app");
    h.add(DOCKER_DEPLOYMENT, &name, spec("1", "/tmp/ready"))
        .await?;
    let status = h.wait_status(&name, 2, 0).await?;
    for i in 0..2 {
        assert_eq!(status["instances"][i]["health"], "healthy", "{status}");
    }

    // Sample the healthy containers while version 2 rolls out.
    let stop = CancellationToken::new();
    let sampler = {
        let (stop, h_name) = (stop.clone(), name.clone());
        let docker = maestro_testkit::docker::connect().await?;
        let colony = h.colony.clone();
        tokio::spawn(async move {
            let mut fewest = usize::MAX;
            let mut samples = 0u32;
            let started = Instant::now();
            while !stop.is_cancelled() && started.elapsed() < WAIT {
                let filters = [
                    ("label", format!("{}={colony}", labels::COLONY)),
                    ("label", format!("{}={h_name}", labels::BLUEPRINT)),
                ];
                let list = maestro_testkit::docker::containers(&docker, &filters).await?;
                fewest = fewest.min(list.iter().filter(|c| healthy(c)).count());
                samples += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok((fewest, samples))
        })
    };
    let generation = h.update(&name, |s| *s = spec("2", "/tmp/ready")).await?;
    let status = h.wait_status(&name, 2, generation).await?;
    stop.cancel();
    let (fewest, samples) = sampler.await??;
    assert!(samples >= 10, "sampled the rollout {samples} times");
    assert_eq!(
        fewest, 1,
        "one container replaced at a time, the next only once the new one is healthy"
    );
    let log = status.to_string();
    assert!(!log.contains("unhealthy"), "{status}");

    // Version 3 never becomes healthy: one container is replaced, the rollout stops there.
    let before = h.containers(&name).await?;
    let generation = h.update(&name, |s| *s = spec("3", "/tmp/never")).await?;
    let status = until(
        "the rollout to stop at an unhealthy container",
        WAIT,
        async || {
            let s = h.blueprint(&name).await?.status;
            let stopped = s["message"]
                .as_str()
                .is_some_and(|m| m.contains("is unhealthy"));
            Ok(stopped.then_some(s))
        },
    )
    .await?;
    let after = h.containers(&name).await?;
    let names: Vec<String> = after.iter().map(container_name).collect();
    assert_eq!(names, [format!("{name}-app-0"), format!("{name}-app-1")]);
    assert_eq!(label(&after[0], labels::GENERATION), generation.to_string());
    assert!(
        after[0]
            .status
            .as_deref()
            .is_some_and(|s| s.contains("(unhealthy)")),
        "{:?}",
        after[0].status
    );
    assert_eq!(
        after[1].id, before[1].id,
        "the other container is untouched"
    );
    assert!(
        healthy(&after[1]),
        "and still serves: {:?}",
        after[1].status
    );
    assert_eq!(status["runningInstances"], 0, "{status}");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("{name}-app-0"))),
        "{status}"
    );
    h.finish().await
}

#[tokio::test]
async fn a_stop_does_not_wait_for_a_new_containers_health() -> Result<()> {
    let mut h = Harness::start("stop", CRON).await?;
    let name = h.name("app");
    // The probe never passes, and its failures do not count for ten minutes: the rollout's wait
    // for it would last that long.
    let spec = json!({
        "instances": [{
            "name": "app", "type": "container", "image": "local/busybox:1",
            "command": ["/bin/sleep", "3600"],
            "healthCheck": {"command": ["/bin/false"], "intervalSeconds": 1,
                            "startPeriodSeconds": 600}
        }]
    });
    h.add(DOCKER_DEPLOYMENT, &name, spec).await?;
    let want = [format!("{name}-app-0")];
    let running = h.wait_running_at(&name, &want, None).await?;
    let starting = |c: &bollard::models::ContainerSummary| {
        c.status
            .as_deref()
            .is_some_and(|s| s.contains("(health: starting)"))
    };
    assert!(starting(&running[0]), "{:?}", running[0].status);
    h.stop_reconciler(Duration::from_secs(20)).await?;
    let after = h.containers(&name).await?;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, running[0].id);
    assert_eq!(
        state(&after[0]),
        "running",
        "a stop leaves the container running"
    );
    h.finish().await
}
