//! Rollouts through the real services: maestro, two domain orchestrators with their log
//! servers and Git repositories, and four site agents per domain running real processes whose
//! health check passes or fails with the order's `healthy` characteristic.
//!
//! One federation, in sequence: a canary whose new version fails its health check aborts the
//! rollout and only the canary is rolled back (the seven other sites keep the very same
//! processes); a healthy version travels in three waves gated on health; a silent site never
//! counts as a success (it fails under the `fail` policy while the others pass); and
//! `order rollback` returns every site to the version before the last order, and maestro's audit
//! log records it.

use maestro_proto::order::v1::{
    ControlRolloutRequest, ItemAction, OrderSpec, OrderState, RollbackOrderRequest, RolloutCommand,
    ServiceOrder,
};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{workload_cleanup, workloads_per_site};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);
const DOMAINS: [&str; 2] = ["north", "south"];

/// A process that prints its message and sleeps, whose health check is `test HEALTHY = yes`.
const CHECKED_APP: &str = r#"
id: checked-app
name: Checked app
version: "1.0"
description: A process whose health check passes when the characteristic healthy is yes.
characteristics:
  - { name: message, valueType: string, required: true, maxLength: 64 }
  - { name: healthy, valueType: string, default: "yes", maxLength: 8 }
blueprints:
  - kind: ProcessDeployment
    metadata: { name: "${service}" }
    shell: true
    spec:
      command: /bin/sh
      args: ["-c", "printf '%s\\n' ${message}; exec sleep 86400"]
      env: { DEMO_MESSAGE: "${message}", DEMO_SITE: "${site}", DEMO_DOMAIN: "${domain}" }
      replicas: 1
      healthCheck: { command: ["/usr/bin/test", "${healthy}", "=", "yes"], timeoutSeconds: 1, startSeconds: 1 }
"#;

fn catalog(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let c = dir.join("catalog-src");
    std::fs::create_dir_all(&c)?;
    std::fs::write(c.join("checked-app.yaml"), CHECKED_APP)?;
    Ok(c)
}

fn order(service: &str, message: &str, healthy: &str, rollout: serde_json::Value) -> OrderSpec {
    let chars = [("message", json!(message)), ("healthy", json!(healthy))];
    let mut spec =
        orders::service_order("checked-app", ItemAction::Modify, service, &chars, &DOMAINS);
    if !rollout.is_null() {
        spec.items[0].rollout_json = rollout.to_string();
    }
    spec
}

/// Site -> (pid, message) of the service's one process per site.
fn running(service: &str) -> BTreeMap<String, (u32, String)> {
    workloads_per_site(service)
        .into_iter()
        .filter_map(|(site, ws)| match ws.as_slice() {
            [w] => Some((site, (w.pid, w.var("DEMO_MESSAGE").to_string()))),
            _ => None,
        })
        .collect()
}

/// Waits until every one of the eight sites runs exactly one process with `message`.
async fn all_run(service: &str, message: &str) -> anyhow::Result<BTreeMap<String, (u32, String)>> {
    let mut last = BTreeMap::new();
    let got =
        maestro_testkit::wait::until(format!("every site runs {message}"), TIMEOUT, async || {
            last = running(service);
            Ok((last.len() == 8 && last.values().all(|(_, m)| m == message)).then(|| last.clone()))
        })
        .await;
    got.map_err(|e| anyhow::anyhow!("{e}; running: {last:?}"))
}

fn rollout_phase(o: &ServiceOrder) -> &str {
    o.items[0].rollout.as_ref().map_or("", |r| r.phase.as_str())
}

fn notes(o: &ServiceOrder) -> Vec<&str> {
    o.note.iter().map(|n| n.text.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_waves_silence_and_rollback_through_the_real_services() -> anyhow::Result<()> {
    let service = format!("rolled-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(dir.path())?,
        &DOMAINS,
        4,
        |component, _, config| {
            if component == Component::Domain {
                config["site_unreachable_after_ms"] = json!(3000);
            }
        },
    )?;
    let mut fed = fed;
    let result = scenario(&mut fed, &service, dir.path()).await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}

async fn scenario(fed: &mut ProcessFederation, service: &str, dir: &Path) -> anyhow::Result<()> {
    orders::wait_domains_ready(&fed.api, &DOMAINS, TIMEOUT).await?;
    let mut client = orders::order_client(&fed.api)?;

    // Version 1 everywhere at once.
    let mut add = order(service, "v1", "yes", json!(null));
    add.items[0].action = ItemAction::Add as i32;
    let first = orders::create(&mut client, &format!("{service}-v1"), add).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &first.id, TIMEOUT).await?;
    anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
    let v1 = all_run(service, "v1").await?;

    // Version 2 fails its health check: the canary north-1 takes it, fails, and only it returns.
    let canary_first = |waves: serde_json::Value, failure: u32| {
        json!({
            "waves": {"counts": waves},
            "canary": {"key": "site", "value": "north-1"},
            "gate": {"success": {"fraction": 1.0}, "failure": {"count": failure}, "bake_ms": 1000,
                     "report_timeout_ms": 10000, "silent": "block", "fall_back_after": 2},
            "max_changing": 4
        })
    };
    let bad = orders::create(
        &mut client,
        &format!("{service}-v2"),
        order(service, "v2", "no", canary_first(json!([3, 4]), 1)),
    )
    .await?;
    let started = Instant::now();
    let (failed, _) = orders::watch_until_final(&fed.api, &bad.id, TIMEOUT).await?;
    let rollback_took = started.elapsed();
    anyhow::ensure!(
        failed.state() == OrderState::Failed && rollout_phase(&failed) == "rolled_back",
        "{failed:#?}"
    );
    let r = failed.items[0].rollout.as_ref().unwrap();
    anyhow::ensure!((r.changed, r.succeeded) == (1, 0), "{r:#?}");
    let canary = r.sites.iter().find(|s| s.site == "north-1").unwrap();
    anyhow::ensure!(canary.state == "rolled_back", "{r:#?}");
    anyhow::ensure!(
        r.sites
            .iter()
            .filter(|s| s.site != "north-1")
            .all(|s| s.state == "waiting"),
        "the other sites never changed: {r:#?}"
    );
    let after = all_run(service, "v1").await?;
    anyhow::ensure!(
        after
            .iter()
            .filter(|(site, _)| *site != "north-1")
            .all(|(site, p)| v1.get(site) == Some(p)),
        "the seven other sites keep their very processes: before {v1:?}, after {after:?}"
    );
    let n = notes(&failed);
    anyhow::ensure!(
        n.iter()
            .any(|t| t.contains("rollout aborted: 1 sites of wave 0 failed"))
            && n.iter()
                .any(|t| t.contains("rolled back: the 1 site that changed")),
        "{n:#?}"
    );

    // Version 3 is healthy: canary, then three, then four sites, each wave gated on health.
    let good = orders::create(
        &mut client,
        &format!("{service}-v3"),
        order(service, "v3", "yes", canary_first(json!([3, 4]), 1)),
    )
    .await?;
    let started = Instant::now();
    let (completed, _) = orders::watch_until_final(&fed.api, &good.id, TIMEOUT).await?;
    let three_waves_took = started.elapsed();
    anyhow::ensure!(
        completed.state() == OrderState::Completed && rollout_phase(&completed) == "completed",
        "{completed:#?}"
    );
    let r = completed.items[0].rollout.as_ref().unwrap();
    anyhow::ensure!((r.waves, r.succeeded, r.failed) == (3, 8, 0), "{r:#?}");
    let n = notes(&completed);
    for expected in [
        "rollout wave 0 passed; wave 1 starts",
        "rollout wave 1 passed; wave 2 starts",
        "rollout completed",
    ] {
        anyhow::ensure!(n.iter().any(|t| t.contains(expected)), "{expected}: {n:#?}");
    }
    let waves: Vec<usize> = r.sites.iter().map(|s| s.wave as usize).collect();
    anyhow::ensure!(
        [0, 1, 2].map(|w| waves.iter().filter(|x| **x == w).count()) == [1, 3, 4],
        "{r:#?}"
    );
    all_run(service, "v3").await?;
    // The CLI shows the same.
    let status = fed.maestroctl_json(
        maestro_tests::node_bin!(),
        &["rollout".as_ref(), "status".as_ref(), completed.id.as_ref()],
        &[],
    )?;
    anyhow::ensure!(status["items"][0]["phase"] == "completed", "{status:#}");

    // A silent site: south-4 stops; version 4 goes to every site in one wave under the `fail`
    // policy. The silent site fails (not reporting) and never counts as a success; seven
    // successes pass the wave.
    fed.domain("south").site_agents[3].stop()?;
    let silent = json!({
        "waves": {"counts": [8]},
        "gate": {"success": {"count": 7}, "failure": {"count": 2}, "bake_ms": 500,
                 "report_timeout_ms": 2000, "silent": "fail", "fall_back_after": 2},
        "max_changing": 8
    });
    let quiet = orders::create(
        &mut client,
        &format!("{service}-v4"),
        order(service, "v4", "yes", silent),
    )
    .await?;
    let seen = orders::get_until(&mut client, &quiet.id, "its rollout ends", TIMEOUT, |o| {
        matches!(rollout_phase(o), "completed" | "rolled_back")
    })
    .await?;
    let r = seen.items[0].rollout.as_ref().unwrap();
    let south4 = r.sites.iter().find(|s| s.site == "south-4").unwrap();
    anyhow::ensure!(
        r.phase == "completed"
            && (r.succeeded, r.failed) == (7, 1)
            && south4.state == "failed"
            && south4.detail.starts_with("not reporting"),
        "{r:#?}"
    );
    fed.domain("south").site_agents[3].start()?;
    let (done, _) = orders::watch_until_final(&fed.api, &quiet.id, TIMEOUT).await?;
    anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
    all_run(service, "v4").await?;

    // Taking back order v4 returns every site to v3.
    let undo = client
        .rollback_order(RollbackOrderRequest {
            id: quiet.id.clone(),
            idempotency_key: format!("{service}-undo"),
        })
        .await?
        .into_inner()
        .order
        .unwrap();
    let (done, _) = orders::watch_until_final(&fed.api, &undo.id, TIMEOUT).await?;
    anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
    all_run(service, "v3").await?;
    rollback_is_audited(fed, &quiet.id).await?;
    let refused = client
        .control_rollout(ControlRolloutRequest {
            id: quiet.id.clone(),
            item_id: String::new(),
            command: RolloutCommand::Abort as i32,
        })
        .await
        .unwrap_err();
    anyhow::ensure!(
        refused.code() == tonic::Code::FailedPrecondition && refused.message().contains("over"),
        "{refused:?}"
    );
    eprintln!(
        "rollout figures: abort and rollback of the canary {:.1} s; three waves over 8 sites {:.1} s",
        rollback_took.as_secs_f64(),
        three_waves_took.as_secs_f64()
    );
    let _ = dir;
    Ok(())
}

/// Maestro's audit log holds the successful RollbackOrder of order `id`.
async fn rollback_is_audited(fed: &ProcessFederation, id: &str) -> anyhow::Result<()> {
    let export = maestro_tests::api::audit_export(fed.api.channel()?).await?;
    let recorded = export.entries.iter().any(|e| {
        e.call == "RollbackOrder"
            && e.outcome.code == "OK"
            && e.targets.iter().any(|t| t.kind == "order" && t.id == id)
    });
    anyhow::ensure!(recorded, "no RollbackOrder of {id}: {:#?}", export.entries);
    Ok(())
}
