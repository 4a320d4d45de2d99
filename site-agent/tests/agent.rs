//! End-to-end tests of the site agent against a real bare Git repository, the real embedded
//! colony, real child processes and an in-test log server.

mod common;

use anyhow::{Context, Result, ensure};
use common::*;
use maestro_proto::logs::v1::record;
use maestro_testkit::git::TestRepo;
use maestro_testkit::logs::summary;
use maestro_testkit::procs::alive;
use std::time::Duration;

const SITE: &str = "plant-1";

/// The heartbeat `r` carries, if it is one.
fn heartbeat(
    r: &maestro_proto::logs::v1::Record,
) -> Option<&maestro_proto::logs::v1::SiteHeartbeat> {
    match &r.body {
        Some(record::Body::Heartbeat(h)) => Some(h),
        _ => None,
    }
}

fn bp_path(name: &str) -> String {
    format!("sites/{SITE}/ProcessDeployment/{name}.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_updates_and_removes_a_process_deployment() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("web", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("web"),
        process_blueprint("web", &intent, 1, 2, &["3600"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: web gen 1 (order order-1, intent {intent})"
    ))?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;

    // Two live processes with the labels, and a converged status at intent generation 1.
    let rec = logs
        .wait_for("converged gen 1", |r| is_converged(r, "web", 1, 2))
        .await?;
    assert_eq!(rec.intent_id, intent);
    assert_eq!(rec.order_id, "order-1");
    assert_eq!(rec.domain, "north");
    assert_eq!(rec.site, SITE);
    let first = guard.workloads();
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(
        status_pids(&rec),
        first.iter().map(|w| w.pid).collect::<Vec<_>>()
    );
    let mut instances: Vec<&str> = first
        .iter()
        .map(|w| w.env["MAESTRO_INSTANCE"].as_str())
        .collect();
    instances.sort_unstable();
    assert_eq!(instances, ["web-0", "web-1"]);
    for w in &first {
        assert_eq!(w.env["MAESTRO_BLUEPRINT"], "web");
        assert_eq!(w.env["MAESTRO_GENERATION"], "0");
        assert_eq!(w.env["MAESTRO_SITE"], SITE);
    }

    // Three replicas and a new argument: exactly three processes of colony generation 1 (the
    // colony counts from 0, as upstream).
    repo.put(
        &bp_path("web"),
        process_blueprint("web", &intent, 2, 3, &["3601"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: web gen 2 (order order-2, intent {intent})"
    ))?;
    let rec = logs
        .wait_for("converged gen 2", |r| is_converged(r, "web", 2, 3))
        .await?;
    let second = guard.workloads();
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(
        status_pids(&rec),
        second.iter().map(|w| w.pid).collect::<Vec<_>>()
    );
    for w in &second {
        assert_eq!(w.env["MAESTRO_GENERATION"], "1");
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", w.pid))?;
        assert!(
            cmdline.ends_with(b"3601\0"),
            "{:?}",
            String::from_utf8_lossy(&cmdline)
        );
    }
    for old in &first {
        assert!(!alive(old.pid), "old instance {} still runs", old.pid);
    }

    // Deleting the file removes the processes and reports removed at the deleting commit's generation.
    repo.delete(&bp_path("web"));
    repo.commit(&format!(
        "maestro: web gen 3 (order order-3, intent {intent})\n\nTrace-Id: t"
    ))?;
    let rec = logs
        .wait_for("removed", |r| matches!(&r.body, Some(record::Body::Status(s)) if r.blueprint == "web" && s.removed))
        .await?;
    assert_eq!(rec.generation, 3);
    assert_eq!(rec.order_id, "order-3");
    assert_eq!(rec.intent_id, intent);
    assert!(guard.workloads().is_empty(), "{:?}", guard.workloads());
    let removed_logs = logs
        .seen
        .iter()
        .filter(|r| r.stream == "log" && r.blueprint == "web")
        .count();
    ensure!(
        removed_logs > 0,
        "reconciler actions are reported as log records"
    );

    teardown(agent, &dir, &guard).await
}

/// Running instances in the order the reconciler's own log lines say they started and stopped.
fn running_over_time(
    logs: &[maestro_proto::logs::v1::Record],
    blueprint: &str,
    from: usize,
) -> Vec<usize> {
    let mut running = from;
    let mut timeline = vec![running];
    for r in logs.iter().filter(|r| r.blueprint == blueprint) {
        let Some(record::Body::Log(l)) = &r.body else {
            continue;
        };
        if l.message.starts_with("started instance ") {
            running += 1;
        } else if l.message.starts_with("stopped instance ") {
            running = running.saturating_sub(1);
        } else {
            continue;
        }
        timeline.push(running);
    }
    timeline
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_touches_no_instance_and_a_new_command_rolls_out_one_at_a_time() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("api"),
        process_blueprint("api", &intent, 1, 2, &["3600"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 1 (order order-1, intent {intent})"
    ))?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    logs.wait_for("converged gen 1", |r| is_converged(r, "api", 1, 2))
        .await?;
    let first: Vec<u32> = guard.workloads().iter().map(|w| w.pid).collect();
    assert_eq!(first.len(), 2);

    // Replicas 2 -> 3 (same command): the two keep running, one is added.
    repo.put(
        &bp_path("api"),
        process_blueprint("api", &intent, 2, 3, &["3600"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 2 (order order-2, intent {intent})"
    ))?;
    logs.wait_for("converged gen 2", |r| is_converged(r, "api", 2, 3))
        .await?;
    let second: Vec<u32> = guard.workloads().iter().map(|w| w.pid).collect();
    assert_eq!(second.len(), 3, "{second:?}");
    for pid in &first {
        assert!(
            second.contains(pid),
            "instance {pid} was not touched: {second:?}"
        );
    }
    // Replicas 3 -> 2: one stopped, the other two untouched.
    repo.put(
        &bp_path("api"),
        process_blueprint("api", &intent, 3, 2, &["3600"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 3 (order order-3, intent {intent})"
    ))?;
    logs.wait_for("converged gen 3", |r| is_converged(r, "api", 3, 2))
        .await?;
    let third: Vec<u32> = guard.workloads().iter().map(|w| w.pid).collect();
    assert_eq!(third.len(), 2);
    assert!(
        third.iter().all(|p| second.contains(p)),
        "{third:?} of {second:?}"
    );

    // A new command: replaced one at a time, never fewer than 2 running, at most 3.
    repo.put(
        &bp_path("api"),
        process_blueprint("api", &intent, 4, 2, &["3601"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 4 (order order-4, intent {intent})"
    ))?;
    logs.wait_for("converged gen 4", |r| is_converged(r, "api", 4, 2))
        .await?;
    let fourth: Vec<u32> = guard.workloads().iter().map(|w| w.pid).collect();
    assert_eq!(fourth.len(), 2);
    assert!(
        fourth.iter().all(|p| !third.contains(p)),
        "all replaced: {fourth:?}"
    );
    let log_line = |r: &maestro_proto::logs::v1::Record, text: &str| matches!(&r.body, Some(record::Body::Log(l)) if r.blueprint == "api" && l.message.contains(text));
    // The log lines of the last step may trail the status: wait for the stop of every old one.
    let stopped = |r: &maestro_proto::logs::v1::Record, pid: u32| {
        log_line(r, "stopped instance") && log_line(r, &format!("(pid {pid},"))
    };
    for &pid in &third {
        logs.seen_or_wait_for("an old instance stopped", |r| stopped(r, pid))
            .await?;
    }
    let rollout_start = logs
        .seen
        .iter()
        .position(|r| {
            log_line(r, "started instance")
                && fourth.iter().any(|p| log_line(r, &format!("(pid {p},")))
        })
        .expect("a new instance started");
    let timeline = running_over_time(&logs.seen[rollout_start..], "api", 2);
    assert_eq!(
        timeline,
        vec![2, 3, 2, 3, 2],
        "start one, stop one, twice: {timeline:?}"
    );
    teardown(agent, &dir, &guard).await
}

/// An agent told to stop while a new instance waits on its health check (for up to
/// `startSeconds`, ten minutes here) stops at once, not when the wait ends: the instance is left
/// running and recorded, so the cleanup after the stop finds it, as a restarted agent would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stops_at_once_while_a_start_waits_on_its_health_check() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    let never = serde_json::json!({"command": ["/bin/false"], "startSeconds": 600});
    repo.put(
        &bp_path("api"),
        checked_blueprint(1, "3600", never, &intent, &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 1 (order order-1, intent {intent})"
    ))?;
    let logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    let started = maestro_testkit::until("the instance started", GUARD, async || {
        let pids = guard.pids();
        Ok((!pids.is_empty()).then_some(pids))
    })
    .await?;

    agent.shutdown.cancel();
    maestro_testkit::within(
        "the agent to stop while the health check is awaited",
        Duration::from_secs(20),
        agent.running.task,
    )
    .await??;
    ensure!(
        guard.pids() == started,
        "the instance is left running: {started:?}, now {:?}",
        guard.pids()
    );
    let stopped = site_agent::stop_all_instances(&dir).await?;
    ensure!(
        stopped == 1,
        "the cleanup found the instance recorded: {stopped} stopped"
    );
    ensure!(guard.workloads().is_empty(), "{:?}", guard.workloads());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_never_passes_its_health_check_leaves_the_old_one_serving() -> Result<()>
{
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    let healthy = serde_json::json!({"command": ["/bin/true"]});
    repo.put(
        &bp_path("api"),
        checked_blueprint(1, "3600", healthy.clone(), &intent, &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 1 (order order-1, intent {intent})"
    ))?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    let rec = logs
        .wait_for("gen 1 healthy", |r| is_converged(r, "api", 1, 1))
        .await?;
    let old = status_pids(&rec);
    ensure!(old.len() == 1, "{old:?}");

    // A new version whose check always fails: it starts beside the old one, is reported
    // unhealthy, and the old one keeps serving.
    let failing = serde_json::json!({"command": ["/bin/false"], "startSeconds": 1});
    repo.put(
        &bp_path("api"),
        checked_blueprint(2, "3601", failing, &intent, &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 2 (order order-2, intent {intent})"
    ))?;
    logs.wait_for("the failed health check", |r| {
        matches!(&r.body, Some(record::Body::Log(l)) if r.blueprint == "api"
            && l.message.contains("did not pass its health check within 1s"))
    })
    .await?;
    let rec = logs
        .wait_for("gen 2 reported unhealthy", |r| {
            matches!(&r.body, Some(record::Body::Status(s)) if r.blueprint == "api"
                && r.generation == 2 && !s.converged && s.status_json.contains("unhealthy"))
        })
        .await?;
    ensure!(
        guard.pids().contains(&old[0]),
        "the old instance still runs: {:?} of {:?}",
        old,
        guard.pids()
    );
    ensure!(
        !is_converged(&rec, "api", 2, 1),
        "an unhealthy version is not ready: {rec:?}"
    );

    // The same version with a check it passes: now it replaces the old one.
    repo.put(
        &bp_path("api"),
        checked_blueprint(3, "3601", healthy, &intent, &guard.value),
    );
    repo.commit(&format!(
        "maestro: api gen 3 (order order-3, intent {intent})"
    ))?;
    let rec = logs
        .wait_for("gen 3 healthy", |r| {
            is_converged(r, "api", 3, 1) && !status_pids(r).contains(&old[0])
        })
        .await?;
    let new = status_pids(&rec);
    let pid = old[0];
    logs.seen_or_wait_for("the old instance stopped", |r| {
        matches!(&r.body, Some(record::Body::Log(l)) if r.blueprint == "api"
            && l.message.contains("stopped instance") && l.message.contains(&format!("(pid {pid},")))
    })
    .await?;
    ensure!(
        !alive(pid),
        "the old instance stopped once the new one was healthy"
    );
    ensure!(guard.pids() == new, "{:?} vs {new:?}", guard.pids());
    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_an_instance_that_was_killed() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    let script = "echo started $MAESTRO_INSTANCE; exec /bin/sleep 3600";
    repo.put(
        &bp_path("api"),
        command_blueprint(
            "api",
            &intent,
            1,
            2,
            "/bin/sh",
            &["-c", script],
            &guard.value,
        ),
    );
    repo.commit("add api")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;

    let rec = logs
        .wait_for("converged", |r| is_converged(r, "api", 1, 2))
        .await?;
    // What the processes print arrives as log records of their instance (the output is
    // forwarded as soon as it is written, so it may come before the converged status).
    logs.seen_or_wait_for("process output", |r| {
        matches!(&r.body, Some(record::Body::Log(l)) if l.source == "api-1" && l.message == "started api-1")
    })
    .await?;
    let before = status_pids(&rec);
    let victim = before[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;

    let rec = logs
        .wait_for("converged without the killed pid", |r| {
            is_converged(r, "api", 1, 2) && !status_pids(r).contains(&victim)
        })
        .await?;
    let after = status_pids(&rec);
    assert!(
        after.contains(&before[1]),
        "the other instance was left alone: {before:?} -> {after:?}"
    );
    let live = guard.pids();
    assert_eq!(live, after);
    assert!(!alive(victim));

    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skips_invalid_files_and_applies_the_valid_ones() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("good", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("good"),
        process_blueprint("good", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.put(
        &format!("sites/{SITE}/ProcessDeployment/bad name.json"),
        process_blueprint("bad", &intent, 1, 1, &["3600"], &guard.value),
    );
    let mut mismatch: serde_json::Value = serde_json::from_slice(&process_blueprint(
        "other",
        &intent,
        1,
        1,
        &["3600"],
        &guard.value,
    ))?;
    mismatch["kind"] = "Other".into();
    repo.put(&bp_path("other"), serde_json::to_vec(&mismatch)?);
    repo.put(
        &format!("sites/{SITE}/ProcessDeployment/broken.json"),
        "{ not json",
    );
    repo.commit("mixed")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;

    logs.wait_for("converged good", |r| is_converged(r, "good", 1, 1))
        .await?;
    for path in ["bad name.json", "other.json", "broken.json"] {
        logs.seen_or_wait_for(path, |r| log_mentions(r, path))
            .await?;
    }
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    let names: Vec<String> = client
        .get_blueprints(&key, SITE, None, None)
        .await?
        .into_iter()
        .map(|b| b.metadata.name)
        .collect();
    assert_eq!(names, ["good"]);
    assert_eq!(guard.workloads().len(), 1);

    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_file_is_refused_once_per_commit_and_its_blueprint_keeps_running() -> Result<()>
{
    let guard = workload_guard();
    let (big_id, other_id) = (
        maestro_common::ids::intent_id("big", "north"),
        maestro_common::ids::intent_id("other", "north"),
    );
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("big"),
        process_blueprint("big", &big_id, 1, 1, &["3600"], &guard.value),
    );
    repo.put(
        &bp_path("other"),
        process_blueprint("other", &other_id, 1, 1, &["3600"], &guard.value),
    );
    repo.commit("add big and other")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    logs.wait_for("big converged", |r| is_converged(r, "big", 1, 1))
        .await?;
    logs.seen_or_wait_for("other converged", |r| is_converged(r, "other", 1, 1))
        .await?;
    let running = guard.pids();
    assert_eq!(running.len(), 2);

    // The file grows past the limit (2 MiB of padding in a valid JSON document).
    let mut huge: serde_json::Value = serde_json::from_slice(&process_blueprint(
        "big",
        &big_id,
        2,
        2,
        &["3600"],
        &guard.value,
    ))?;
    huge["metadata"]["annotations"]["padding"] = "x".repeat(2 * 1024 * 1024).into();
    let huge = serde_json::to_vec(&huge)?;
    let size = huge.len();
    repo.put(&bp_path("big"), huge);
    let first = repo.commit("big grows")?;
    let refused = |r: &maestro_proto::logs::v1::Record| log_mentions(r, "/big.json");
    let line = logs.wait_for("the refusal", refused).await?;
    let Some(record::Body::Log(l)) = &line.body else {
        unreachable!()
    };
    assert!(
        l.message.contains(&format!(
            "{size} bytes, over the limit of 1048576 bytes per file"
        )) && l.message.contains(&first[..12]),
        "names the file, the commit, the size and the limit: {}",
        l.message
    );
    // A new commit that changes another file: the agent synced, reported the big file once
    // more (for that commit) and no more than that.
    repo.put(
        &bp_path("other"),
        process_blueprint("other", &other_id, 2, 2, &["3600"], &guard.value),
    );
    repo.commit("scale other")?;
    logs.wait_for("other converged", |r| is_converged(r, "other", 2, 2))
        .await?;
    logs.drain();
    let reports = logs.seen.iter().filter(|r| refused(r)).count();
    assert_eq!(reports, 2, "once per commit");
    // The refused file changed nothing: big keeps its instance at generation 1.
    let big_pids: Vec<u32> = running
        .iter()
        .copied()
        .filter(|p| guard.pids().contains(p))
        .collect();
    assert_eq!(
        big_pids.len(),
        2,
        "big and other's first instance still run"
    );
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    assert!(client.get_blueprint(&key, SITE, "big").await?.is_some());

    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lock_files_left_by_a_killed_agent_do_not_stop_the_sync() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("locked", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("locked"),
        process_blueprint("locked", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.commit("add locked")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    let agent = Agent::start(config.clone()).await?;
    logs.wait_for("converged", |r| is_converged(r, "locked", 1, 1))
        .await?;
    agent.stop().await?;
    // What a SIGKILL in the middle of a fetch leaves in the mirror.
    let git = dir.join("git");
    std::fs::write(git.join("config.lock"), "")?;
    std::fs::create_dir_all(git.join("refs/remotes/origin"))?;
    std::fs::write(git.join("refs/remotes/origin/main.lock"), "")?;

    let agent = Agent::start(config).await?;
    repo.put(
        &bp_path("locked"),
        process_blueprint("locked", &intent, 2, 2, &["3600"], &guard.value),
    );
    repo.commit("scale locked")?;
    logs.wait_for("converged after the restart", |r| {
        is_converged(r, "locked", 2, 2)
    })
    .await?;
    logs.seen_or_wait_for("the stale locks named", |r| {
        matches!(&r.body, Some(record::Body::Log(l)) if l.message == "removed 2 stale Git lock file(s) left by an interrupted run")
    })
    .await?;
    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_report_left_by_a_crash_reaches_the_log_server_once() -> Result<()> {
    let guard = workload_guard();
    let repo = TestRepo::new()?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let report =
        "2026-12-03T21:00:00Z: thread 'tokio-runtime-worker' panicked at src/x.rs:1:2: boom";
    std::fs::create_dir_all(&dir)?;
    std::fs::write(site_agent::panic_report::path(&dir), report)?;
    let config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    let agent = Agent::start(config.clone()).await?;
    // Durable in the outbox before the file goes: gone once the agent runs.
    assert!(!site_agent::panic_report::path(&dir).exists());
    let said = format!("the agent panicked before this start: {report}");
    let is_report = |r: &maestro_proto::logs::v1::Record| {
        matches!(&r.body, Some(record::Body::Log(l))
            if l.level == "error" && l.source == site_agent::panic_report::SOURCE && l.message == said)
    };
    logs.wait_for("the panic report", is_report).await?;
    agent.stop().await?;
    // A start without a report sends none. The second run would queue one before its first
    // heartbeat (records leave the outbox in the order they were appended), whose sequence
    // continues a block past the first run's; the first run's report may arrive again, under
    // its own sequence.
    let agent = Agent::start(config).await?;
    logs.wait_for("a heartbeat of the second run", |r| {
        matches!(&r.body, Some(record::Body::Heartbeat(_)))
            && r.sender_sequence > site_agent::outbox::HEARTBEAT_SEQUENCE_BLOCK
    })
    .await?;
    let mut sequences: Vec<u64> = logs
        .seen
        .iter()
        .filter(|r| is_report(r))
        .map(|r| r.sender_sequence)
        .collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len(), 1, "one report: {sequences:?}");
    teardown(agent, &dir, &guard).await
}

fn log_mentions(r: &maestro_proto::logs::v1::Record, path: &str) -> bool {
    matches!(&r.body, Some(record::Body::Log(l)) if l.level == "error" && l.message.contains(path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_longer_than_one_read_is_forwarded_whole_without_another_write() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("burst", "north");
    let mut repo = TestRepo::new()?;
    // About 150 KB at once (more than two of the forwarder's 64 KiB reads), then nothing.
    let script = "i=0; while [ $i -lt 3000 ]; do echo \"line $i of a burst longer than one read\"; \
                  i=$((i+1)); done; exec /bin/sleep 3600";
    repo.put(
        &bp_path("burst"),
        command_blueprint(
            "burst",
            &intent,
            1,
            1,
            "/bin/sh",
            &["-c", script],
            &guard.value,
        ),
    );
    repo.commit("add burst")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    logs.wait_for("the burst's last line", |r| {
        matches!(&r.body, Some(record::Body::Log(l)) if l.source == "burst-0" && l.message == "line 2999 of a burst longer than one read")
    })
    .await?;
    let lines = logs
        .seen
        .iter()
        .filter(|r| matches!(&r.body, Some(record::Body::Log(l)) if l.source == "burst-0"))
        .count();
    assert_eq!(lines, 3000, "every line once");
    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_running_instances_without_duplicates() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("db", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("db"),
        process_blueprint("db", &intent, 1, 2, &["3600"], &guard.value),
    );
    repo.commit("add db")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    let agent = Agent::start(config.clone()).await?;
    let rec = logs
        .wait_for("converged", |r| is_converged(r, "db", 1, 2))
        .await?;
    let before = status_pids(&rec);
    let colony_addr = agent.running.addr;

    // A normal shutdown leaves the workloads running.
    agent.stop().await?;
    let live = guard.pids();
    assert_eq!(live, before, "stopping the agent must not stop workloads");

    // Everything the first run pushed is in; later status records come from the new run.
    logs.drain();
    let last_status = logs
        .seen
        .iter()
        .filter(|r| r.stream == "status")
        .map(|r| r.sender_sequence)
        .max()
        .unwrap_or(0);

    let agent = Agent::start(config).await?;
    assert_ne!(
        agent.running.addr, colony_addr,
        "a fresh embedded colony listens on a new port"
    );
    let adopted = logs
        .wait_for("adoption log", |r| matches!(&r.body, Some(record::Body::Log(l)) if l.message.starts_with("startup convergence done; adopted 2 ")))
        .await?;
    let Some(record::Body::Log(line)) = &adopted.body else {
        unreachable!()
    };
    for pid in &before {
        assert!(
            line.message.contains(&format!("(pid {pid})")),
            "{}",
            line.message
        );
    }
    // A restarted agent sends every status once at its start (possibly before the adoption
    // log), then only changes.
    let rec = logs
        .seen_or_wait_for("status after restart", |r| {
            r.stream == "status" && r.sender_sequence > last_status && r.blueprint == "db"
        })
        .await?;
    assert!(
        is_converged(&rec, "db", 1, 2),
        "{:?}",
        summary(std::slice::from_ref(&rec))
    );
    assert_eq!(status_pids(&rec), before, "the same pids are adopted");
    let live = guard.pids();
    assert_eq!(live, before, "no duplicates after restart");

    // An adopted instance is no child of this agent: its end is seen by its pidfd, at once,
    // and it is replaced.
    let victim = before[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(victim)?),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let ended = format!("instance pid {victim} exited (its status is not known");
    logs.wait_for(
        "the adopted instance's end",
        |r| matches!(&r.body, Some(record::Body::Log(l)) if l.message.starts_with(&ended)),
    )
    .await?;
    let rec = logs
        .wait_for("converged without the killed adopted pid", |r| {
            is_converged(r, "db", 1, 2) && !status_pids(r).contains(&victim)
        })
        .await?;
    assert!(
        status_pids(&rec).contains(&before[1]),
        "the other one is left alone"
    );
    assert_eq!(guard.pids(), status_pids(&rec));

    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_wait_on_disk_until_the_log_server_is_up() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("late", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("late"),
        process_blueprint("late", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.commit("add late")?;
    // Reserve an address, then leave nothing listening on it.
    let addr = maestro_testkit::net::free_addr();
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(
        &dir,
        SITE,
        &repo.path(),
        &format!("http://{addr}"),
    ))
    .await?;

    // Wait (on the colony, the only observable) until the blueprint converged: status records exist.
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    maestro_testkit::until("late running in the colony", GUARD, async || {
        let bp = client.get_blueprint(&key, SITE, "late").await;
        Ok(matches!(bp, Ok(Some(bp)) if bp.status["runningInstances"] == 1).then_some(()))
    })
    .await?;

    let mut logs = LogServer::start_on(addr).await?;
    let rec = logs
        .wait_for("converged", |r| is_converged(r, "late", 1, 1))
        .await?;
    assert_eq!(rec.stream, "status");
    logs.wait_for("a heartbeat", |r| r.stream == "heartbeat")
        .await?;
    // Every stream arrives in order, numbered from 1 without gaps; but a heartbeat replaces the
    // one still waiting (the news of the sync sent one while the log server was down), so
    // heartbeats only rise.
    let mut per_stream: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for r in &logs.seen {
        per_stream
            .entry(r.stream.clone())
            .or_default()
            .push(r.sender_sequence);
    }
    for (stream, seqs) in &per_stream {
        if stream == "heartbeat" {
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "heartbeats {seqs:?}");
            continue;
        }
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "stream {stream}");
    }
    assert!(
        per_stream.contains_key("log") && per_stream.contains_key("status"),
        "{per_stream:?}"
    );

    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_outage_keeps_the_last_synced_blueprints() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("edge", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("edge"),
        process_blueprint("edge", &intent, 1, 1, &["3600"], &guard.value),
    );
    let widget = serde_json::json!({
        "kind": "BlueprintDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "version": "v1", "scope": "Namespaced",
                 "names": {"kind": "Widget", "listKind": "WidgetList", "singular": "widget", "plural": "widgets"},
                 "handler": {"executorType": "widget-reconciler", "functionName": "reconcile"}}
    });
    repo.put(
        "definitions/Widget.json",
        maestro_common::json::canonical(&widget),
    );
    let first = repo.commit("add edge and the Widget definition")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    let agent = Agent::start(config.clone()).await?;
    let rec = logs
        .wait_for("converged", |r| is_converged(r, "edge", 1, 1))
        .await?;
    let pids = status_pids(&rec);
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    let kinds: Vec<String> = client
        .get_blueprint_definitions(&key, SITE)
        .await?
        .into_iter()
        .map(|d| d.spec.names.kind)
        .collect();
    assert!(
        kinds.contains(&"Widget".to_string()) && kinds.contains(&"ProcessDeployment".to_string()),
        "{kinds:?}"
    );

    // The remote disappears: the agent says so and keeps what it had.
    let moved = repo.dir.path().with_extension("moved");
    std::fs::rename(repo.dir.path(), &moved)?;
    let is_fetch_failure = |r: &maestro_proto::logs::v1::Record| matches!(&r.body, Some(record::Body::Log(l)) if l.message.starts_with("git fetch failed"));
    let failure = logs.wait_for("fetch failure log", is_fetch_failure).await?;
    let remote = repo.dir.path().display().to_string();
    assert!(
        matches!(&failure.body, Some(record::Body::Log(l)) if l.message.contains(&format!("git remote {remote}: no such repository"))),
        "the error names the missing remote: {failure:?}"
    );
    // Heartbeats say the sync fails, since when, and which commit still runs.
    let beat = logs
        .wait_for(
            "a heartbeat with the sync error",
            |r| matches!(&r.body, Some(record::Body::Heartbeat(h)) if !h.sync_error.is_empty()),
        )
        .await?;
    let Some(record::Body::Heartbeat(h)) = &beat.body else {
        unreachable!()
    };
    assert!(
        h.sync_error.starts_with("git fetch failed: git remote "),
        "{h:?}"
    );
    assert_eq!(h.commit, first);
    assert!(h.failing_since.is_some() && h.synced_at.is_some(), "{h:?}");
    agent.stop().await?;
    logs.drain();
    let last_status = logs
        .seen
        .iter()
        .filter(|r| r.stream == "status")
        .map(|r| r.sender_sequence)
        .max()
        .unwrap_or(0);

    // Even a restart during the outage (which re-checks the colony) removes nothing.
    let agent = Agent::start(config).await?;
    logs.wait_for("fetch failure log after restart", is_fetch_failure)
        .await?;
    logs.wait_for("adoption log", |r| matches!(&r.body, Some(record::Body::Log(l)) if l.message.starts_with("startup convergence done; adopted 1 "))).await?;
    // Sent once at the start, possibly before the adoption log.
    let rec = logs
        .seen_or_wait_for("status after restart", |r| {
            r.stream == "status" && r.sender_sequence > last_status && r.blueprint == "edge"
        })
        .await?;
    assert!(is_converged(&rec, "edge", 1, 1));
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    assert!(client.get_blueprint(&key, SITE, "edge").await?.is_some());
    let live = guard.pids();
    assert_eq!(live, pids);

    // Back online: new commits apply again.
    std::fs::rename(&moved, repo.dir.path())?;
    repo.put(
        &bp_path("edge"),
        process_blueprint("edge", &intent, 2, 2, &["3600"], &guard.value),
    );
    let second = repo.commit("scale edge")?;
    logs.wait_for("converged after outage", |r| is_converged(r, "edge", 2, 2))
        .await?;
    logs.wait_for("a heartbeat of a healthy sync", |r| {
        matches!(&r.body, Some(record::Body::Heartbeat(h))
            if h.sync_error.is_empty() && h.failing_since.is_none() && h.commit == second)
    })
    .await?;

    teardown(agent, &dir, &guard).await
}

/// What a heartbeat says about the sync goes out when it changes, not at the next period: with
/// heartbeats an hour apart, the commit applied, the sync failing and the sync healed each reach
/// the log server in a heartbeat within the guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_news_goes_out_in_a_heartbeat_at_once_not_at_the_next_period() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("beat", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("beat"),
        process_blueprint("beat", &intent, 1, 1, &["3600"], &guard.value),
    );
    let first = repo.commit("add beat")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let config = site_agent::Config {
        heartbeat_interval_ms: 3_600_000,
        ..agent_config(&dir, SITE, &repo.path(), &logs.endpoint())
    };
    let agent = Agent::start(config).await?;
    logs.seen_or_wait_for("a heartbeat with the first commit", |r| {
        heartbeat(r).is_some_and(|h| h.commit == first && h.sync_error.is_empty())
    })
    .await?;

    let moved = repo.dir.path().with_extension("moved");
    std::fs::rename(repo.dir.path(), &moved)?;
    logs.wait_for("a heartbeat with the sync error", |r| {
        heartbeat(r).is_some_and(|h| {
            h.commit == first
                && h.sync_error.starts_with("git fetch failed")
                && h.failing_since.is_some()
        })
    })
    .await?;

    std::fs::rename(&moved, repo.dir.path())?;
    repo.put(
        &bp_path("beat"),
        process_blueprint("beat", &intent, 2, 1, &["3600"], &guard.value),
    );
    let second = repo.commit("beat generation 2")?;
    logs.wait_for("a heartbeat of the healed sync", |r| {
        heartbeat(r).is_some_and(|h| {
            h.commit == second && h.sync_error.is_empty() && h.failing_since.is_none()
        })
    })
    .await?;
    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_colony_with_provisioned_keys_and_orphaned_process() -> Result<()> {
    use colony::model::{Colony, Executor, FunctionSpec, ProcessState};
    init_tracing();
    let guard = workload_guard();
    // An external colony the agent does not own: the operator created the colony and registered
    // the reconciler executor, and hands the agent the colony owner key.
    let colony_dir = tempfile::tempdir()?;
    let server_key = colony::PrivateKey::generate();
    let owner = colony::PrivateKey::generate();
    let reconciler = colony::PrivateKey::generate();
    let stop_colony = tokio_util::sync::CancellationToken::new();
    let server = colony::start(
        colony::ServerConfig::new(colony_dir.path(), server_key.id(), "127.0.0.1:0".parse()?),
        stop_colony.clone(),
    )
    .await?;
    let client = colony::ColonyClient::from_addr(server.addr);
    client
        .add_colony(
            &server_key,
            &Colony {
                colony_id: owner.id(),
                name: SITE.to_string(),
            },
        )
        .await?;
    let exec_name = ::reconciler::executor_name("process-reconciler", SITE);
    let mut executor = Executor::new(&reconciler.id(), "process-reconciler", &exec_name, SITE);
    executor.location_name = SITE.to_string();
    client.add_executor(&owner, &executor).await?;
    client.approve_executor(&owner, SITE, &exec_name).await?;
    // A process assigned to the reconciler whose reply was lost (as when an agent stops mid-assign).
    let mut spec = FunctionSpec::new("reconcile", SITE, "process-reconciler");
    spec.kwargs
        .insert("kind".into(), "ProcessDeployment".into());
    client.submit(&reconciler, &spec).await?;
    let orphan = client
        .assign(&reconciler, SITE, -1)
        .await?
        .expect("assignable");

    let (_tmp, dir) = data_dir()?;
    std::fs::create_dir_all(&dir)?;
    let keys =
        serde_json::json!({"colony_owner": owner.to_hex(), "reconciler": reconciler.to_hex()});
    std::fs::write(dir.join("keys.json"), serde_json::to_vec(&keys)?)?;
    let intent = maestro_common::ids::intent_id("ext", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("ext"),
        process_blueprint("ext", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.commit("add ext")?;
    let mut logs = LogServer::start().await?;
    let mut config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    config.colony_url = Some(format!("http://{}", server.addr));
    let agent = Agent::start(config).await?;
    assert_eq!(agent.running.addr, server.addr);

    logs.wait_for("converged", |r| is_converged(r, "ext", 1, 1))
        .await?;
    let resumed = format!("resumed process {}", orphan.process_id);
    logs.seen_or_wait_for(
        "resumed orphan",
        |r| matches!(&r.body, Some(record::Body::Log(l)) if l.message.starts_with(&resumed)),
    )
    .await?;
    let p = client.get_process(&reconciler, &orphan.process_id).await?;
    assert_eq!(p.process_state(), Some(ProcessState::Success));
    // The agent's own key was generated and persisted next to the provisioned ones.
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("keys.json"))?)?;
    assert!(stored["agent"].is_string() && stored["server_owner"].is_null());

    let result = teardown(agent, &dir, &guard).await;
    stop_colony.cancel();
    server.stopped().await;
    result
}

#[cfg(feature = "docker")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_on_without_an_engine_refuses_to_start() -> Result<()> {
    let (_tmp, dir) = data_dir()?;
    let mut config = agent_config(&dir, SITE, "/nonexistent/repo.git", "http://127.0.0.1:9");
    config.reconcilers.insert(
        "docker".into(),
        serde_json::json!({"mode": "on", "socket": dir.join("no-docker.sock")}),
    );
    let err = site_agent::run(config, tokio_util::sync::CancellationToken::new())
        .await
        .err()
        .context("start must fail")?;
    ensure!(
        matches!(err, site_agent::Error::Reconciler(_))
            && err.to_string().contains("no-docker.sock"),
        "{err}"
    );
    Ok(())
}

#[cfg(feature = "docker")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_auto_without_an_engine_runs_without_the_docker_reconciler() -> Result<()> {
    let repo = TestRepo::new()?;
    let logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let mut config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    config.reconcilers.insert(
        "docker".into(),
        serde_json::json!({"mode": "auto", "socket": dir.join("no-docker.sock")}),
    );
    let agent = Agent::start(config).await?;
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    let executors = client.get_executors(&key, SITE).await?;
    ensure!(
        executors
            .iter()
            .all(|e| e.executor_type != docker_reconciler::EXECUTOR_TYPE),
        "no docker executor: {executors:?}"
    );
    let keys: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("keys.json"))?)?;
    ensure!(
        keys["executors"]
            .get(docker_reconciler::EXECUTOR_TYPE)
            .is_none()
            && keys["executors"].get("process-reconciler").is_some(),
        "{keys}"
    );
    agent.stop().await
}

/// `bytes` (a blueprint file) with `maestro.io/depends-on: deps`.
fn depending_on(bytes: Vec<u8>, deps: &str) -> Result<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(&bytes)?;
    v["metadata"]["annotations"]["maestro.io/depends-on"] = serde_json::json!(deps);
    Ok(serde_json::to_vec(&v)?)
}

fn position(
    seen: &[maestro_proto::logs::v1::Record],
    what: &str,
    pred: impl Fn(&maestro_proto::logs::v1::Record) -> bool,
) -> Result<usize> {
    seen.iter()
        .position(pred)
        .with_context(|| format!("no record of {what}; seen: {:#?}", summary(seen)))
}

fn is_removed(r: &maestro_proto::logs::v1::Record, blueprint: &str) -> bool {
    r.blueprint == blueprint && matches!(&r.body, Some(record::Body::Status(s)) if s.removed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_come_first_and_go_last() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("stack", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("db"),
        process_blueprint("db", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.put(
        &bp_path("app"),
        depending_on(
            process_blueprint("app", &intent, 1, 1, &["3600"], &guard.value),
            "db",
        )?,
    );
    repo.commit(&format!(
        "maestro: stack gen 1 (order order-1, intent {intent})"
    ))?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;

    logs.wait_for("app converged", |r| is_converged(r, "app", 1, 1))
        .await?;
    let waited = position(&logs.seen, "app waiting for db", |r| {
        r.blueprint == "app"
            && matches!(&r.body, Some(record::Body::Log(l)) if l.message.contains("waiting for dependency db"))
    })?;
    let db_ready = position(&logs.seen, "db converged", |r| is_converged(r, "db", 1, 1))?;
    let app_first = position(&logs.seen, "a status of app", |r| {
        r.blueprint == "app" && r.stream == "status"
    })?;
    ensure!(
        waited < app_first && db_ready < app_first,
        "app reached the colony only after db converged: {:#?}",
        summary(&logs.seen)
    );

    // Removing both: app goes first, db only after app's cleanup finished.
    repo.delete(&bp_path("app"));
    repo.delete(&bp_path("db"));
    repo.commit(&format!(
        "maestro: stack gen 2 (order order-2, intent {intent})"
    ))?;
    logs.wait_for("db removed", |r| is_removed(r, "db")).await?;
    let app_gone = position(&logs.seen, "app removed", |r| is_removed(r, "app"))?;
    let db_gone = position(&logs.seen, "db removed", |r| is_removed(r, "db"))?;
    ensure!(app_gone < db_gone, "{:#?}", summary(&logs.seen));
    position(&logs.seen, "db held for app", |r| {
        r.blueprint == "db"
            && matches!(&r.body, Some(record::Body::Log(l)) if l.message.contains("dependent app"))
    })?;
    ensure!(guard.workloads().is_empty(), "every process stopped");

    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_keeps_closed_processes_for_its_retention_and_then_removes_them()
-> Result<()> {
    use colony::ColonyError;
    use colony::model::ProcessState;
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("kept", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &bp_path("kept"),
        process_blueprint("kept", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.commit("add kept")?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    let agent = Agent::start(config.clone()).await?;
    logs.wait_for("converged", |r| is_converged(r, "kept", 1, 1))
        .await?;
    // The reconcile process the blueprint's change submitted, closed by the process reconciler.
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    let closed: Vec<String> = maestro_testkit::until("a successful process", GUARD, async || {
        let done = client
            .get_processes(&key, SITE, ProcessState::Success, 100)
            .await?;
        Ok((!done.is_empty()).then(|| done.into_iter().map(|p| p.process_id).collect()))
    })
    .await?;
    agent.stop().await?;

    // Restarted with the default retention (an hour of successes): every one is still there.
    let agent = Agent::start(config.clone()).await?;
    let (client, _) = colony_client(&dir, agent.running.addr)?;
    for id in &closed {
        client
            .get_process(&key, id)
            .await
            .with_context(|| format!("process {id} after a restart within its retention"))?;
    }
    agent.stop().await?;

    // Restarted with a retention of 1 ms: the colony's sweep at its start removed them.
    let mut short = config;
    short.colony_keep_successful_ms = 1;
    let agent = Agent::start(short).await?;
    let (client, _) = colony_client(&dir, agent.running.addr)?;
    for id in &closed {
        let got = client.get_process(&key, id).await;
        ensure!(
            matches!(got, Err(ColonyError::Api { status: 404, .. })),
            "process {id} past its retention: {got:?}"
        );
    }
    teardown(agent, &dir, &guard).await
}
