//! The local pause, end to end: a running agent on a real bare Git repository with real child
//! processes, paused and resumed through the `maestro-site` binary. While paused a new commit is
//! fetched and not applied and every heartbeat carries the reason; once resumed the commit is
//! applied.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Result, ensure};
use common::*;
use maestro_proto::logs::v1::{Record, SiteHeartbeat, record};
use maestro_testkit::git::TestRepo;

const SITE: &str = "plant-1";
const BP: &str = "sites/plant-1/ProcessDeployment/web.json";
const REASON: &str = "line 3 cutover until 18:00 (ticket OPS-412)";

fn site_binary(data_dir: &Path, args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_maestro-site"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("MAESTRO_CONFIG_FILE")
        .env_remove("MAESTRO_DATA_DIR")
        .output()?)
}

fn heartbeat(r: &Record) -> Option<&SiteHeartbeat> {
    match &r.body {
        Some(record::Body::Heartbeat(h)) => Some(h),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_site_applies_no_new_commit_until_resumed() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("web", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        BP,
        process_blueprint("web", &intent, 1, 1, &["3600"], &guard.value),
    );
    let first = repo.commit(&format!(
        "maestro: web gen 1 (order order-1, intent {intent})"
    ))?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    let rec = logs
        .wait_for("converged gen 1", |r| is_converged(r, "web", 1, 1))
        .await?;
    let running = status_pids(&rec);
    ensure!(running.len() == 1, "{running:?}");

    // Paused through the binary, while the agent runs.
    let before_ms = maestro_common::time::now_millis();
    let out = site_binary(&dir, &["pause", "--reason", REASON])?;
    ensure!(out.status.success(), "{out:?}");
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains(REASON),
        "{out:?}"
    );
    let hb = logs
        .wait_for("a paused heartbeat", |r| {
            heartbeat(r).is_some_and(|h| h.paused == REASON)
        })
        .await?;
    let since = heartbeat(&hb)
        .and_then(|h| h.paused_since)
        .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
    ensure!(
        since.is_some_and(|s| s >= before_ms - 1000 && s <= maestro_common::time::now_millis()),
        "paused_since {since:?}, paused at {before_ms}"
    );

    // A new commit is fetched and held.
    repo.put(
        BP,
        process_blueprint("web", &intent, 2, 1, &["3601"], &guard.value),
    );
    let second = repo.commit(&format!(
        "maestro: web gen 2 (order order-2, intent {intent})"
    ))?;
    logs.wait_for("the new commit held", |r| {
        log_says(r, "", "is fetched and not applied") && log_says(r, "", &second[..12])
    })
    .await?;
    let hb = logs
        .wait_for("a heartbeat after the hold", |r| heartbeat(r).is_some())
        .await?;
    let h = heartbeat(&hb).expect("a heartbeat");
    ensure!(h.paused == REASON, "{h:?}");
    ensure!(h.commit == first, "still running the first commit: {h:?}");
    ensure!(
        !logs
            .seen
            .iter()
            .any(|r| r.blueprint == "web" && r.generation == 2),
        "nothing of generation 2 reached the site's colony"
    );
    ensure!(guard.pids() == running, "{:?} vs {running:?}", guard.pids());

    // Resumed: the held commit is applied at the next sync, and heartbeats say not paused.
    let out = site_binary(&dir, &["resume"])?;
    ensure!(out.status.success(), "{out:?}");
    let rec = logs
        .wait_for("converged gen 2", |r| is_converged(r, "web", 2, 1))
        .await?;
    ensure!(status_pids(&rec) != running, "gen 2 replaced the instance");
    logs.wait_for("a heartbeat of the second commit, not paused", |r| {
        heartbeat(r)
            .is_some_and(|h| h.paused.is_empty() && h.paused_since.is_none() && h.commit == second)
    })
    .await?;
    teardown(agent, &dir, &guard).await
}

#[test]
fn pause_refuses_a_bad_reason_or_data_dir_naming_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let out = site_binary(tmp.path(), &["pause", "--reason", "two\nlines"])?;
    ensure!(out.status.code() == Some(64), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(err.starts_with("error: reason: "), "{err}");
    ensure!(site_agent::pause::read(tmp.path()).is_none(), "not paused");

    let missing = tmp.path().join("not-the-data-dir");
    let out = site_binary(&missing, &["pause", "--reason", REASON])?;
    ensure!(out.status.code() == Some(64), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(err.contains("data_dir"), "{err}");
    ensure!(!missing.exists(), "nothing is created elsewhere");

    let out = site_binary(tmp.path(), &["resume"])?;
    ensure!(out.status.success(), "{out:?}");
    ensure!(
        String::from_utf8_lossy(&out.stdout).trim() == "not paused",
        "{out:?}"
    );
    Ok(())
}
