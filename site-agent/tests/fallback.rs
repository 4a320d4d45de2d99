//! A site falls back by itself from a generation whose health check keeps failing: real child
//! processes, a real bare Git repository, the embedded colony and an in-test log server. The
//! instance of the earlier generation keeps serving with the same pid throughout, the status
//! says `unhealthy` and then `fellBack`, and a rollback to the earlier spec converges at once.
//!
//! Also: the back-off of a service that crashes at every start holds for every convergence,
//! not only the self-healing loop's.

mod common;

use anyhow::{Context, Result, ensure};
use colony::model::ProcessState;
use common::*;
use maestro_common::contract;
use maestro_proto::logs::v1::{BlueprintStatus, Record, record};
use maestro_testkit::git::TestRepo;
use maestro_testkit::procs::alive;
use serde_json::{Value, json};

const SITE: &str = "plant-1";
const BP: &str = "sites/plant-1/ProcessDeployment/api.json";

fn commit(repo: &TestRepo, generation: u64, intent: &str) -> Result<String> {
    repo.commit(&format!(
        "maestro: api gen {generation} (order order-{generation}, intent {intent})"
    ))
}

/// Commits generation 1 of `api`: one `/bin/sh` with `args`.
fn commit_shell(repo: &mut TestRepo, args: &[&str], guard: &WorkloadGuard) -> Result<()> {
    let intent = maestro_common::ids::intent_id("api", "north");
    repo.put(
        BP,
        command_blueprint("api", &intent, 1, 1, "/bin/sh", args, &guard.value),
    );
    commit(repo, 1, &intent)?;
    Ok(())
}

/// Runs one convergence of `api` through the colony and waits until it finished.
async fn converge_once(client: &colony::ColonyClient, key: &colony::PrivateKey) -> Result<()> {
    let p = client.reconcile_blueprint(key, SITE, "api", false).await?;
    maestro_testkit::until("a reconcile of api to finish", GUARD, async || {
        let p = client.get_process(key, &p.process_id).await?;
        Ok(matches!(
            p.process_state(),
            Some(ProcessState::Success | ProcessState::Failed)
        )
        .then_some(()))
    })
    .await
}

/// Runs two convergences of `api` through the colony of `agent`; returns its status then.
async fn converge_twice(dir: &std::path::Path, agent: &Agent) -> Result<String> {
    let (client, key) = colony_client(dir, agent.running.addr)?;
    for _ in 0..2 {
        converge_once(&client, &key).await?;
    }
    let bp = client
        .get_blueprint(&key, SITE, "api")
        .await?
        .context("the blueprint")?;
    Ok(bp.status.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_that_keeps_failing_its_health_check_is_fallen_back_from() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    let gen1 = checked_blueprint(
        1,
        "3600",
        json!({"command": ["/bin/true"]}),
        &intent,
        &guard.value,
    );
    repo.put(BP, gen1.clone());
    commit(&repo, 1, &intent)?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    let rec = logs
        .wait_for("gen 1 healthy", |r| is_converged(r, "api", 1, 1))
        .await?;
    let old = status_pids(&rec);
    ensure!(old.len() == 1, "{old:?}");
    let pid = old[0];

    // Generation 2 runs something else and its check always fails; the site falls back after
    // two failed attempts.
    let failing = json!({"command": ["/bin/false"], "startSeconds": 2});
    repo.put(
        BP,
        annotated(
            &checked_blueprint(2, "3601", failing, &intent, &guard.value),
            contract::ANN_FALL_BACK_AFTER,
            "2",
        ),
    );
    commit(&repo, 2, &intent)?;
    let rec = logs
        .wait_for("gen 2 unhealthy", |r| {
            status_json(r, "api", 2).is_some_and(|s| contract::unhealthy_at(&s, 2).is_some())
        })
        .await?;
    let json = status_json(&rec, "api", 2).context("a status")?;
    let verdict = contract::unhealthy_at(&json, 2).context("unhealthy")?;
    ensure!(verdict.attempts == 1, "{verdict:?}");
    ensure!(verdict.message.contains("/bin/false"), "{verdict:?}");
    ensure!(status_pids(&rec).contains(&pid), "{rec:?}");
    ensure!(alive(pid), "the generation-1 instance keeps serving");

    let rec = logs
        .wait_for("gen 2 fell back", |r| {
            status_json(r, "api", 2).is_some_and(|s| contract::fell_back_at(&s, 2).is_some())
        })
        .await?;
    let json = status_json(&rec, "api", 2).context("a status")?;
    ensure!(
        contract::fell_back_at(&json, 2).map(|v| v.attempts) == Some(2),
        "{json}"
    );
    ensure!(contract::unhealthy_at(&json, 2).is_none(), "{json}");
    ensure!(
        matches!(&rec.body, Some(record::Body::Status(s)) if !s.converged),
        "a site that fell back is not converged: {rec:?}"
    );
    ensure!(
        status_pids(&rec) == old,
        "only the earlier instance: {rec:?}"
    );
    ensure!(guard.pids() == old, "{:?} vs {old:?}", guard.pids());
    let warned = |r: &maestro_proto::logs::v1::Record| {
        matches!(&r.body, Some(record::Body::Log(l)) if l.level == "warn")
            && log_says(r, "api", "fell back from intent generation 2")
    };
    logs.seen_or_wait_for("the fall-back logged", warned)
        .await?;

    // It stays fallen back: more convergences at generation 2 start nothing.
    let before = logs.seen.len();
    let status = converge_twice(&dir, &agent).await?;
    ensure!(
        contract::fell_back_at(&status, 2).map(|v| v.attempts) == Some(2),
        "{status}"
    );
    ensure!(guard.pids() == old, "{:?} vs {old:?}", guard.pids());
    logs.drain();
    ensure!(
        !logs.seen[before..]
            .iter()
            .any(|r| log_says(r, "api", "started instance") || log_says(r, "api", "did not pass")),
        "generation 2 was tried again: {:#?}",
        maestro_testkit::logs::summary(&logs.seen[before..])
    );
    ensure!(
        logs.seen.iter().filter(|r| warned(r)).count() == 1,
        "the fall-back is logged once"
    );

    // Back to generation 1's spec (a rollback): converged at once, same pid, no verdict left.
    repo.put(BP, gen1);
    commit(&repo, 1, &intent)?;
    let rec = logs
        .wait_for("back at gen 1", |r| is_converged(r, "api", 1, 1))
        .await?;
    ensure!(status_pids(&rec) == old, "{rec:?}");
    let status: Value = serde_json::from_str(&status_json(&rec, "api", 1).context("a status")?)?;
    for key in [contract::STATUS_UNHEALTHY, contract::STATUS_FELL_BACK] {
        ensure!(status.get(key).is_none(), "{key} left in {status}");
    }
    ensure!(alive(pid) && guard.pids() == old, "{:?}", guard.pids());
    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_install_has_nothing_to_fall_back_to_and_keeps_trying() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    let failing = json!({"command": ["/bin/false"], "startSeconds": 1});
    repo.put(
        BP,
        annotated(
            &checked_blueprint(1, "3600", failing, &intent, &guard.value),
            contract::ANN_FALL_BACK_AFTER,
            "1",
        ),
    );
    commit(&repo, 1, &intent)?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    // Past the fall-back limit, still unhealthy with a growing count: each attempt a new instance.
    let rec = logs
        .wait_for("unhealthy three times", |r| {
            status_json(r, "api", 1)
                .and_then(|s| contract::unhealthy_at(&s, 1))
                .is_some_and(|v| v.attempts >= 3)
        })
        .await?;
    ensure!(
        matches!(&rec.body, Some(record::Body::Status(s)) if !s.converged),
        "{rec:?}"
    );
    ensure!(
        !logs
            .seen
            .iter()
            .any(|r| status_json(r, "api", 1)
                .is_some_and(|s| contract::fell_back_at(&s, 1).is_some())),
        "a first install never falls back"
    );
    // Each attempt was a new instance, stopped when it failed (the log lines may trail).
    let failed_pid = |r: &maestro_proto::logs::v1::Record| match &r.body {
        Some(record::Body::Log(l)) if l.message.contains("did not pass its health check") => l
            .message
            .split(" (pid ")
            .nth(1)?
            .split(',')
            .next()
            .map(str::to_string),
        _ => None,
    };
    let mut pids: std::collections::BTreeSet<String> =
        logs.seen.iter().filter_map(failed_pid).collect();
    for _ in 0..3 {
        if pids.len() >= 3 {
            break;
        }
        let r = logs
            .wait_for("another failed attempt", |r| {
                failed_pid(r).is_some_and(|p| !pids.contains(&p))
            })
            .await?;
        pids.extend(failed_pid(&r));
    }
    ensure!(pids.len() >= 3, "a new instance per attempt: {pids:?}");
    teardown(agent, &dir, &guard).await
}

/// A service that exits at every start: once its restarts wait (the crash loop's back-off),
/// convergences asked for through the colony, as its periodic reconcile asks, start nothing
/// before the restart is due, and the status says why; when it is due, it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loops_back_off_holds_for_every_convergence() -> Result<()> {
    /// The wait the test holds the loop at: long enough for two convergences through the colony.
    const HELD: &str = "a restart waits 8s after the last end";
    let guard = workload_guard();
    let mut repo = TestRepo::new()?;
    let work = tempfile::tempdir()?;
    let starts = work.path().join("starts");
    let starts_arg = starts.to_str().context("a UTF-8 temporary path")?;
    // Every start appends a line to `starts`, then the process exits.
    let script = r#"echo start >> "$1"; exit 3"#;
    commit_shell(&mut repo, &["-c", script, "crash", starts_arg], &guard)?;
    let count_starts = || std::fs::read_to_string(&starts).map_or(0, |text| text.lines().count());
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    let rec = logs
        .wait_for("the restarts held back 8 s", |r| {
            status_json(r, "api", 1).is_some_and(|s| s.contains(HELD))
        })
        .await?;
    let seen_at = std::time::Instant::now();
    ensure!(
        matches!(&rec.body, Some(record::Body::Status(s)) if !s.converged),
        "{rec:?}"
    );
    let before = count_starts();
    ensure!(before >= 9, "nine ends before an 8 s wait: {before} starts");

    let status = converge_twice(&dir, &agent).await?;
    ensure!(
        seen_at.elapsed() < std::time::Duration::from_secs(6),
        "the convergences took {:?}: too long to tell a held-back restart from a due one",
        seen_at.elapsed()
    );
    ensure!(
        count_starts() == before,
        "a convergence through the colony started the service during its back-off: {} starts, \
         {before} before",
        count_starts()
    );
    ensure!(status.contains(HELD), "{status}");
    logs.seen_or_wait_for("the wait logged", |r| {
        log_says(
            r,
            "api",
            "is gone; replacing it after 8s (crash-loop back-off)",
        )
    })
    .await?;

    // When it is due, the self-healing loop starts it again.
    maestro_testkit::until("the start after the back-off", GUARD, async || {
        Ok((count_starts() > before).then_some(()))
    })
    .await?;
    ensure!(
        seen_at.elapsed() >= std::time::Duration::from_secs(2),
        "the next start came {:?} after an 8 s hold was seen",
        seen_at.elapsed()
    );
    teardown(agent, &dir, &guard).await
}

/// What a service whose process runs `script` at every start reported and logged, until its
/// crash loop's restarts wait 4 s: its status records from its first status of the loop on (all
/// of them must be the loop's), and every record pushed.
async fn crash_loop_until_4s(script: &str) -> Result<(Vec<BlueprintStatus>, Vec<Record>)> {
    let guard = workload_guard();
    let mut repo = TestRepo::new()?;
    commit_shell(&mut repo, &["-c", script], &guard)?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    logs.wait_for("the restarts held back 4 s", |r| {
        status_json(r, "api", 1)
            .is_some_and(|s| s.contains("a restart waits 4s after the last end"))
    })
    .await?;
    logs.drain();
    teardown(agent, &dir, &guard).await?;
    let statuses: Vec<BlueprintStatus> = logs
        .seen
        .iter()
        .filter_map(|r| match &r.body {
            Some(record::Body::Status(s)) if r.blueprint == "api" => Some(s.clone()),
            _ => None,
        })
        .collect();
    let first = statuses
        .iter()
        .position(|s| s.message.starts_with("crash loop"))
        .context("a crash-loop status")?;
    let looping = statuses[first..].to_vec();
    ensure!(
        looping.iter().all(|s| s.message.starts_with("crash loop")),
        "a status between two ends of the crash loop says something else: {:#?}",
        maestro_testkit::logs::summary(&logs.seen)
    );
    Ok((looping, logs.seen.clone()))
}

/// The ends in a row each crash-loop status says.
fn ends_said(statuses: &[BlueprintStatus]) -> Result<Vec<u32>> {
    statuses
        .iter()
        .map(|s| {
            let after = s
                .message
                .strip_prefix("crash loop: its instances ended ")
                .context("a crash-loop sentence")?;
            Ok(after.split(' ').next().unwrap_or_default().parse()?)
        })
        .collect()
}

/// A service that exits at every start, mostly before the start step looks: from its first
/// status of the crash loop on, every status says the loop's back-off, each end's count in turn
/// (before, a start that failed wrote a status of its own, with its pid, between two of the
/// loop's), and each exit is logged with how the process ended: by the exit's report, or by the
/// convergence that forgot the instance when the report came first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_says_only_its_back_off_and_logs_each_exit() -> Result<()> {
    let (looping, seen) = crash_loop_until_4s("exit 3").await?;
    let ends = ends_said(&looping)?;
    // An instance seen alive before it exits is on trial, with the same sentence: its status
    // differs only in the instance it lists.
    ensure!(
        ends.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "each end's count in turn: {ends:?}"
    );
    ensure!(
        ends.last() == Some(&8),
        "the 4 s wait follows the eighth end: {ends:?}"
    );
    let exits = seen
        .iter()
        .filter(|r| log_says(r, "api", "(exit status: 3)"))
        .count();
    ensure!(
        exits >= 8,
        "every exit of the eight is logged with its status: {exits} logged; {:#?}",
        maestro_testkit::logs::summary(&seen)
    );
    Ok(())
}

/// A service whose process runs a moment, then exits: once its restarts wait, a restarted
/// instance is on trial, not ready, so the blueprint is never reported converged while it crash
/// loops (before, every restart said "ready" until the process ended, and an order to one site
/// could complete on it), and the status while it runs says the same as while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_a_crash_loop_is_not_ready_until_it_has_run_a_minute() -> Result<()> {
    let (looping, _) = crash_loop_until_4s("sleep 0.3; exit 3").await?;
    ensure!(
        looping
            .iter()
            .all(|s| !s.converged && s.ready_instances == 0),
        "a restart in the crash loop was reported ready: {looping:#?}"
    );
    let on_trial = looping
        .iter()
        .filter(|s| s.status_json.contains("\"state\":\"starting\""))
        .count();
    ensure!(
        on_trial >= 1,
        "a restarted instance was seen starting: {looping:#?}"
    );
    let ends = ends_said(&looping)?;
    ensure!(
        ends.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "the statuses of one end say the same: {ends:?}"
    );
    Ok(())
}

/// A new spec whose processes end at once, until one of its restarts in the crash loop runs:
/// that restart is on trial, and it does not replace the instance of the earlier spec, which
/// keeps serving with the same pid (before, the earlier instance was stopped as soon as the
/// restart had run `minReadySeconds`, so a spec that crash loops could replace what served).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_trial_does_not_replace_the_earlier_specs_instance() -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("api", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        BP,
        process_blueprint("api", &intent, 1, 1, &["3600"], &guard.value),
    );
    commit(&repo, 1, &intent)?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(agent_config(&dir, SITE, &repo.path(), &logs.endpoint())).await?;
    let rec = logs
        .wait_for("gen 1 converged", |r| is_converged(r, "api", 1, 1))
        .await?;
    let old = status_pids(&rec);
    ensure!(old.len() == 1, "{old:?}");

    // Generation 2 ends at once until the file `runs` exists, then runs; an instance counts as
    // started once it has run 1 s. The file's path is an argument, not part of the script.
    let runs = dir.join("runs");
    let script = "if [ -e \"$1\" ]; then exec /bin/sleep 3601; fi; exit 3";
    let args = ["-c", script, "sh", runs.to_str().context("a UTF-8 path")?];
    let gen2 = command_blueprint("api", &intent, 2, 1, "/bin/sh", &args, &guard.value);
    let mut gen2: Value = serde_json::from_slice(&gen2)?;
    gen2["spec"]["rollout"] = json!({"minReadySeconds": 1});
    repo.put(BP, maestro_common::json::canonical(&gen2).into_bytes());
    commit(&repo, 2, &intent)?;
    logs.wait_for("gen 2 in a crash loop", |r| {
        matches!(&r.body, Some(record::Body::Status(s))
            if r.blueprint == "api" && r.generation == 2 && s.message.contains("a restart waits"))
    })
    .await?;
    std::fs::write(&runs, b"")?;
    let rec = logs
        .wait_for("a restart of gen 2 on trial", |r| {
            status_json(r, "api", 2).is_some_and(|s| s.contains("\"state\":\"starting\""))
        })
        .await?;
    let listed = status_pids(&rec);
    ensure!(
        listed.len() == 2 && listed.contains(&old[0]),
        "the earlier instance is listed beside the restart on trial: {rec:?}"
    );
    ensure!(
        alive(old[0]),
        "the earlier instance keeps serving while the restart is on trial"
    );
    ensure!(
        matches!(&rec.body, Some(record::Body::Status(s)) if !s.converged),
        "not converged while on trial: {rec:?}"
    );
    teardown(agent, &dir, &guard).await
}
