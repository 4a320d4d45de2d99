//! DockerDeployment and ExecutorDeployment against a real Docker Engine: containers serve, carry
//! their labels and settings, roll to a new image, and a missing image is reported. The serving
//! and rolling test runs on an embedded colony and on a real colonies v1.9.12 server.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use colony::model::ProcessState;
use common::{Harness, WAIT, label};
use docker_reconciler::{DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT, docker_available, labels};
use maestro_testkit::net::{free_port, http_get_async};
use maestro_testkit::until;
use serde_json::json;

const CRON: Duration = Duration::from_secs(60);

#[tokio::test]
async fn httpd_serves_then_rolls_to_a_new_image() -> Result<()> {
    let h = Harness::start("httpd", CRON).await?;
    serves_then_rolls(&h).await?;
    h.finish().await
}

#[tokio::test]
async fn on_a_real_colonies_v1_9_12_server_httpd_serves_then_rolls() -> Result<()> {
    let h = Harness::start_real("real").await?;
    if let Err(e) = serves_then_rolls(&h).await {
        eprintln!("real server log tail:\n{}", h.server_log_tail(40));
        return Err(e);
    }
    h.finish().await
}

/// An httpd container serves, carries its labels, and is replaced by one of a new image.
async fn serves_then_rolls(h: &Harness) -> Result<()> {
    let name = h.name("web");
    let port = free_port();
    h.add(
        DOCKER_DEPLOYMENT,
        &name,
        json!({"instances": [{
            "name": "http", "type": "container", "image": "local/busybox:1",
            "command": ["/bin/httpd"], "args": ["-f", "-p", format!("127.0.0.1:{port}")],
            "ports": [{"host": port, "container": port, "protocol": "tcp"}]
        }]}),
    )
    .await?;
    let body = until("httpd answering", WAIT, async || {
        Ok(http_get_async(port, "/version").await)
    })
    .await?;
    assert_eq!(body.trim(), "1");
    let status = h.wait_status(&name, 1, 0).await?;
    assert_eq!(status["instances"][0]["type"], "container");
    assert_eq!(status["instances"][0]["state"], "running");
    assert_eq!(status["instances"][0]["image"], "local/busybox:1");
    assert_eq!(status["instances"][0]["generation"], 0);
    assert_eq!(
        status["instances"][0]["ports"],
        format!("{port}:{port}/tcp")
    );

    let want = vec![format!("{name}-http-0")];
    let first = h.wait_running(&name, &want, 0).await?;
    let c = &first[0];
    assert_eq!(label(c, labels::MANAGED), "true");
    assert_eq!(label(c, labels::BLUEPRINT), name);
    assert_eq!(label(c, labels::COLONY), h.colony);
    assert_eq!(label(c, labels::INSTANCE), "http");
    assert_eq!(label(c, labels::REPLICA), "0");
    assert_eq!(label(c, labels::PORTS), format!("{port}:{port}/tcp"));
    let network = c
        .host_config
        .as_ref()
        .and_then(|hc| hc.network_mode.clone());
    assert_eq!(network.as_deref(), Some("host"));

    let generation = h
        .update(&name, |spec| {
            spec["instances"][0]["image"] = json!("local/busybox:2");
        })
        .await?;
    assert_eq!(generation, 1);
    let second = h.wait_running(&name, &want, 1).await?;
    assert_ne!(second[0].id, first[0].id, "the container is replaced");
    assert_eq!(second[0].image.as_deref(), Some("local/busybox:2"));
    let body = until("new httpd answering", WAIT, async || {
        Ok(http_get_async(port, "/version")
            .await
            .filter(|b| b.trim() == "2"))
    })
    .await?;
    assert_eq!(body.trim(), "2");
    h.wait_status(&name, 1, 1).await?;
    Ok(())
}

#[tokio::test]
async fn container_settings_are_applied() -> Result<()> {
    let mut h = Harness::start("settings", CRON).await?;
    let name = h.name("cfg");
    let volume = h.name("data");
    h.track_volume(&volume);
    let input = tempfile::tempdir()?;
    std::fs::write(input.path().join("in.txt"), "hello\n")?;
    let output = tempfile::tempdir()?;
    h.add(
        DOCKER_DEPLOYMENT,
        &name,
        json!({"instances": [{
            "name": "job", "image": "local/busybox:1",
            "environment": {"GREETING": "hi there"},
            "volumes": [
                {"type": "named", "name": volume, "mountPath": "/data"},
                {"type": "bind", "hostPath": input.path(), "mountPath": "/in", "readOnly": true},
                {"type": "bind", "name": output.path(), "mountPath": "/out"}
            ],
            "command": ["/bin/sh", "-c"],
            "args": ["cat /in/in.txt > /out/result; echo \"$GREETING\" >> /out/result; echo kept > /data/x; exec sleep 3600"],
            "privileged": false,
            "networkMode": "none"
        }]}),
    )
    .await?;
    let want = vec![format!("{name}-job-0")];
    let list = h.wait_running(&name, &want, 0).await?;
    let result = until("the container's output file", WAIT, async || {
        Ok(std::fs::read_to_string(output.path().join("result"))
            .ok()
            .filter(|s| s.lines().count() == 2))
    })
    .await?;
    assert_eq!(result, "hello\nhi there\n");

    let id = list[0].id.clone().context("container id")?;
    let inspect = h.docker.inspect_container(&id, None).await?;
    let config = inspect.config.context("config")?;
    assert!(
        config
            .env
            .unwrap_or_default()
            .contains(&"GREETING=hi there".to_string())
    );
    assert_eq!(
        config.entrypoint,
        Some(vec!["/bin/sh".to_string(), "-c".to_string()])
    );
    let host = inspect.host_config.context("host config")?;
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.privileged, Some(false));
    let mounts = inspect.mounts.unwrap_or_default();
    let by_target: HashMap<String, _> = mounts
        .into_iter()
        .map(|m| (m.destination.clone().unwrap_or_default(), m))
        .collect();
    assert_eq!(by_target["/data"].name.as_deref(), Some(volume.as_str()));
    assert_eq!(by_target["/in"].rw, Some(false));
    assert_eq!(by_target["/out"].rw, Some(true));
    h.wait_status(&name, 1, 0).await?;
    h.finish().await
}

#[tokio::test]
async fn missing_image_is_reported_not_pulled() -> Result<()> {
    let h = Harness::start("missing", CRON).await?;
    let name = h.name("ghost");
    let bp = h
        .add(
            DOCKER_DEPLOYMENT,
            &name,
            json!({"instances": [{"name": "x", "image": "local/does-not-exist:1"}]}),
        )
        .await?;
    let status = until("status reporting the missing image", WAIT, async || {
        let s = h.blueprint(&name).await?.status;
        Ok(s["message"]
            .as_str()
            .is_some_and(|m| m.contains("local/does-not-exist:1"))
            .then_some(s))
    })
    .await?;
    assert_eq!(status["runningInstances"], 0);
    assert_eq!(status["totalInstances"], 1);
    // The reconcile process the add submitted (servers do not record it on the blueprint).
    let for_this =
        |p: &colony::Process| p.spec.kwargs.get("blueprintName") == Some(&json!(bp.metadata.name));
    let closed = until("the reconcile process to fail", WAIT, async || {
        let failed = h
            .client
            .get_processes(&h.member, &h.colony, ProcessState::Failed, 100)
            .await?;
        Ok(failed.into_iter().find(|p| for_this(p)))
    })
    .await?;
    let process = closed.process_id.clone();
    assert!(
        closed
            .errors
            .iter()
            .any(|e| e.contains("not present locally")),
        "{:?}",
        closed.errors
    );
    let logs = h
        .client
        .get_logs(&h.member, &h.colony, &process, 100, 0)
        .await?;
    assert!(
        logs.iter()
            .any(|l| l.message.contains("local/does-not-exist:1")),
        "{logs:?}"
    );
    assert!(h.containers(&name).await?.is_empty());
    h.finish().await
}

#[tokio::test]
async fn executor_deployment_runs_its_replicas() -> Result<()> {
    let h = Harness::start("exec", CRON).await?;
    let name = h.name("workers");
    h.add(
        EXECUTOR_DEPLOYMENT,
        &name,
        json!({
            "image": "local/busybox:1", "executorType": "test-worker", "replicas": 2,
            "env": {"MODE": "test"}, "ports": [{"name": "api", "port": 9, "protocol": "tcp"}],
            "command": ["/bin/sleep", "3600"]
        }),
    )
    .await?;
    let want = vec![format!("{name}-0"), format!("{name}-1")];
    let list = h.wait_running(&name, &want, 0).await?;
    assert_eq!(label(&list[1], labels::KIND), EXECUTOR_DEPLOYMENT);
    let id = list[1].id.clone().context("id")?;
    let env = h
        .docker
        .inspect_container(&id, None)
        .await?
        .config
        .and_then(|c| c.env)
        .unwrap_or_default();
    for want in [
        "MODE=test",
        "COLONIES_EXECUTOR_TYPE=test-worker",
        &format!("COLONIES_EXECUTOR_NAME={name}-1"),
        &format!("COLONIES_COLONY_NAME={}", h.colony),
    ] {
        assert!(env.iter().any(|e| e == want), "{want} missing from {env:?}");
    }
    h.wait_status(&name, 2, 0).await?;
    h.finish().await
}

#[tokio::test]
async fn docker_availability_probe() {
    maestro_testkit::docker::ensure_docker();
    assert!(docker_available(std::path::Path::new(maestro_testkit::docker::SOCKET)).await);
    assert!(!docker_available(std::path::Path::new("/nonexistent/docker.sock")).await);
}
