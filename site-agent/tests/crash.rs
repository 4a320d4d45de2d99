//! Crash consistency of the process reconciler: the `maestro-site` binary is SIGKILLed while it
//! scales a blueprint from 0 to 30 instances, then again and again in the middle of rollouts
//! that replace those instances (between starting a process and recording it, or between
//! forgetting one and stopping it, as often as not). After each restart nothing it started is
//! lost track of: the blueprint ends with exactly 30 instances of its last spec, one per slot,
//! and deleting it leaves no process.
//!
//! Also: what the agent queued while its log server refused every push survives a SIGKILL (the
//! agent's database has no background flush; the outbox flushes before each attempt), and a
//! heartbeat sequence the log server took is never handed out again after one (heartbeats are
//! sent without a flush).

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::*;
use maestro_proto::logs::v1::record;
use maestro_testkit::binary::Serving;
use maestro_testkit::git::TestRepo;
use maestro_testkit::{until, within};

const REPLICAS: u32 = 30;
/// The first kill comes once this many workloads run; each later one once this many
/// workloads of the new spec were started.
const KILL_AFTER: usize = 3;
/// Rollouts interrupted by a kill after the first scale-up.
const ROLLOUT_KILLS: u64 = 3;

fn spawn_site(config: &std::path::Path, data: &std::path::Path) -> Result<Serving> {
    Serving::spawn(
        Command::new(env!("CARGO_BIN_EXE_maestro-site"))
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .env_remove("MAESTRO_SITE")
            .env_remove("MAESTRO_LOG_SERVER")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stderr(Stdio::null()),
        "site agent serving on ",
        GUARD,
    )
}

/// Writes the config of a site agent named `site` in `dir` (short intervals, Docker off, then the
/// keys of `set`) that syncs from `repo` and pushes to `logs`; returns its path.
fn write_config(
    dir: &std::path::Path,
    site: &str,
    repo: &TestRepo,
    logs: &LogServer,
    set: serde_json::Value,
) -> Result<std::path::PathBuf> {
    let config = dir.join("site.json");
    let mut json = serde_json::json!({
        "domain": "north", "site": site, "git_remote": repo.path(),
        "log_server": logs.endpoint(), "sync_interval_ms": 200,
        "heartbeat_interval_ms": 1000, "tls": {"insecure": true},
        "signing": {"insecure_unsigned": true},
        "reconcilers": {"docker": {"mode": "off"}}
    });
    if let (Some(json), Some(set)) = (json.as_object_mut(), set.as_object()) {
        json.extend(set.clone());
    }
    std::fs::write(&config, json.to_string())?;
    Ok(config)
}

/// A site with one `solo` blueprint (one `sleep 3600`) in its repository, an in-test log server
/// and the site's config.
struct Solo {
    _guard: WorkloadGuard,
    _repo: TestRepo,
    _dir: tempfile::TempDir,
    logs: LogServer,
    config: std::path::PathBuf,
    data: std::path::PathBuf,
}

/// [`Solo`] for site `site`, its config [`write_config`]'s with the keys of `set`.
async fn solo_site(site: &str, set: serde_json::Value) -> Result<Solo> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("solo", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &format!("sites/{site}/ProcessDeployment/solo.json"),
        process_blueprint("solo", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.commit("add solo")?;
    let logs = LogServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = write_config(dir.path(), site, &repo, &logs, set)?;
    let data = dir.path().join("data");
    Ok(Solo {
        _guard: guard,
        _repo: repo,
        _dir: dir,
        logs,
        config,
        data,
    })
}

fn is_orphan_stop(r: &maestro_proto::logs::v1::Record) -> bool {
    matches!(&r.body, Some(record::Body::Log(l)) if l.message.contains("that no record knew"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_reconcile_leaves_no_orphan() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("fleet", "north");
    let path = "sites/plant-crash/ProcessDeployment/fleet.json";
    let mut repo = TestRepo::new()?;
    repo.put(
        path,
        process_blueprint("fleet", &intent, 1, REPLICAS, &["3600"], &guard.value),
    );
    repo.commit("add fleet")?;
    let mut logs = LogServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = write_config(
        dir.path(),
        "plant-crash",
        &repo,
        &logs,
        serde_json::json!({}),
    )?;
    let data = dir.path().join("data");

    // Killed while scaling 0 -> 30, then in the middle of each rollout to a new spec.
    let mut generation = 1;
    for kill in 0..=ROLLOUT_KILLS {
        if kill > 0 {
            generation += 1;
            let args = (3600 + kill).to_string();
            repo.put(
                path,
                process_blueprint(
                    "fleet",
                    &intent,
                    generation,
                    REPLICAS,
                    &[&args],
                    &guard.value,
                ),
            );
            repo.commit(&format!("fleet gen {generation}"))?;
        }
        let before: Vec<u32> = guard.pids();
        let site = spawn_site(&config, &data)?;
        let started = until(
            format!("{KILL_AFTER} new workloads before kill {kill}"),
            GUARD,
            async || {
                let new = guard.pids().iter().filter(|p| !before.contains(p)).count();
                Ok((new >= KILL_AFTER).then_some(new))
            },
        )
        .await?;
        maestro_testkit::procs::kill9(site.pid());
        drop(site);
        eprintln!(
            "kill {kill}: SIGKILL after {started} new workloads, {} running",
            guard.pids().len()
        );
    }

    let site = spawn_site(&config, &data)?;
    logs.wait_for("fleet converged", |r| {
        is_converged(r, "fleet", generation, REPLICAS)
    })
    .await?;
    let live = until("exactly the replicas to run", GUARD, async || {
        let w = guard.workloads();
        Ok((w.len() == REPLICAS as usize).then_some(w))
    })
    .await?;
    let mut names: Vec<String> = live
        .iter()
        .filter_map(|w| w.env.get("MAESTRO_INSTANCE").cloned())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        REPLICAS as usize,
        "one process per slot: {names:?}"
    );
    logs.drain();
    let orphans = logs.seen.iter().filter(|r| is_orphan_stop(r)).count();
    eprintln!("orphans found and stopped after the kills: {orphans}");

    repo.delete(path);
    repo.commit("delete fleet")?;
    logs.wait_for(
        "removed",
        |r| matches!(&r.body, Some(record::Body::Status(s)) if r.blueprint == "fleet" && s.removed),
    )
    .await?;
    until("every workload to be gone", GUARD, async || {
        Ok(guard.workloads().is_empty().then_some(()))
    })
    .await?;
    site.stop(Duration::from_secs(10)).await?;
    Ok(())
}

/// Every record the agent offered its log server during an outage (each push refused) is on disk
/// before the attempt: after a SIGKILL and a restart with the log server back, each arrives,
/// unchanged and under its sender sequence. Heartbeats are left out: a newer one replaces an
/// unsent one by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_offered_during_an_outage_survive_a_kill() -> Result<()> {
    let Solo {
        logs, config, data, ..
    } = &mut solo_site("plant-outage", serde_json::json!({})).await?;
    logs.fake.refuse(true);

    let site = spawn_site(config, data)?;
    let mut offered: BTreeMap<(String, u64), maestro_proto::logs::v1::Record> = BTreeMap::new();
    let refused = &mut logs.refused;
    within(
        "a refused push that holds the converged status",
        GUARD,
        async {
            loop {
                let batch = refused.recv().await.context("log server stopped")?;
                let converged = batch.iter().any(|r| is_converged(r, "solo", 1, 1));
                for r in batch.into_iter().filter(|r| r.stream != "heartbeat") {
                    offered.insert((r.stream.clone(), r.sender_sequence), r);
                }
                if converged {
                    return anyhow::Ok(());
                }
            }
        },
    )
    .await??;
    maestro_testkit::procs::kill9(site.pid());
    drop(site);
    let count = offered.len();
    eprintln!("SIGKILL with {count} records offered during the outage");

    logs.fake.refuse(false);
    let site = spawn_site(config, data)?;
    let mut missing = offered;
    let records = &mut logs.records;
    within("every record offered before the kill", GUARD, async {
        while !missing.is_empty() {
            let mut r = records.recv().await.context("log server stopped")?;
            r.sequence = 0; // given by the log server on arrival
            if let Some(sent) = missing.remove(&(r.stream.clone(), r.sender_sequence)) {
                ensure!(sent == r, "changed across the kill: {sent:?} became {r:?}");
            }
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| format!("{} of {count} never arrived", missing.len()))??;
    site.stop(Duration::from_secs(10)).await?;
    Ok(())
}

/// Heartbeats go out without a flush, so the disk lags the heartbeat sequence the log server has
/// seen; after a SIGKILL the restarted agent must still never send a new heartbeat under a
/// sequence already sent (the log server would take it for a resend and the site would look
/// silent). A heartbeat sent again unchanged (its removal was not on disk) is a resend, and fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_never_reuses_a_heartbeat_sequence() -> Result<()> {
    /// Heartbeats taken after the site converged, before the kill and again after the restart.
    const BEATS: usize = 8;
    let Solo {
        logs, config, data, ..
    } = &mut solo_site(
        "plant-beats",
        serde_json::json!({"heartbeat_interval_ms": 100}),
    )
    .await?;
    let mut beats: Vec<maestro_proto::logs::v1::Record> = Vec::new();

    let site = spawn_site(config, data)?;
    let records = &mut logs.records;
    within("heartbeats after the converged status", GUARD, async {
        let mut converged = false;
        let mut after = 0;
        while after < BEATS {
            let r = records.recv().await.context("log server stopped")?;
            converged |= is_converged(&r, "solo", 1, 1);
            if r.stream == "heartbeat" {
                beats.push(r);
                after += usize::from(converged);
            }
        }
        anyhow::Ok(())
    })
    .await??;
    maestro_testkit::procs::kill9(site.pid());
    drop(site);
    let before = beats.len();

    let site = spawn_site(config, data)?;
    within("heartbeats after the restart", GUARD, async {
        while beats.len() < before + BEATS {
            let r = records.recv().await.context("log server stopped")?;
            if r.stream == "heartbeat" {
                beats.push(r);
            }
        }
        anyhow::Ok(())
    })
    .await??;
    let mut sent = BTreeMap::new();
    let mut reused = Vec::new();
    for mut r in beats.iter().cloned() {
        r.sequence = 0; // given by the log server on arrival
        if let Some(earlier) = sent.insert(r.sender_sequence, r.clone())
            && earlier != r
        {
            reused.push(r.sender_sequence);
        }
    }
    let seqs = |rs: &[maestro_proto::logs::v1::Record]| -> Vec<u64> {
        rs.iter().map(|r| r.sender_sequence).collect()
    };
    ensure!(
        reused.is_empty(),
        "heartbeat sequences reused for new heartbeats: {reused:?} (before the kill: {:?}, after: {:?})",
        seqs(&beats[..before]),
        seqs(&beats[before..])
    );
    site.stop(Duration::from_secs(10)).await?;
    Ok(())
}

/// An idle site writes nothing to its disk per heartbeat: over 20 heartbeats of a converged site
/// (no Git fetch, no status change, no colony re-check in the window) the process's `write_bytes`
/// (`/proc/<pid>/io`) does not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_site_writes_nothing_to_disk_per_heartbeat() -> Result<()> {
    let Solo {
        logs, config, data, ..
    } = &mut solo_site(
        "plant-quiet",
        serde_json::json!({"heartbeat_interval_ms": 100, "sync_interval_ms": 3_600_000}),
    )
    .await?;
    let site = spawn_site(config, data)?;
    let records = &mut logs.records;
    within("the converged status", GUARD, async {
        while !is_converged(&logs_next(records).await?, "solo", 1, 1) {}
        anyhow::Ok(())
    })
    .await??;
    // What the convergence queued goes out with the next heartbeats.
    within("3 heartbeats after the converged status", GUARD, async {
        let mut beats = 0;
        while beats < 3 {
            beats += usize::from(logs_next(records).await?.stream == "heartbeat");
        }
        anyhow::Ok(())
    })
    .await??;
    let before = maestro_testkit::procs::written_bytes(site.pid())?;
    within("20 heartbeats while idle", GUARD, async {
        for _ in 0..20 {
            let r = logs_next(records).await?;
            ensure!(r.stream == "heartbeat", "not idle: {r:?}");
        }
        anyhow::Ok(())
    })
    .await??;
    let after = maestro_testkit::procs::written_bytes(site.pid())?;
    ensure!(
        after == before,
        "the idle site wrote {} bytes to its disk over 20 heartbeats",
        after - before
    );
    site.stop(Duration::from_secs(10)).await?;
    Ok(())
}

async fn logs_next(
    records: &mut tokio::sync::mpsc::UnboundedReceiver<maestro_proto::logs::v1::Record>,
) -> Result<maestro_proto::logs::v1::Record> {
    records.recv().await.context("log server stopped")
}
