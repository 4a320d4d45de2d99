//! A site falls back by itself from a generation whose health check keeps failing: real child
//! processes, a real bare Git repository, the embedded colony and an in-test log server. The
//! instance of the earlier generation keeps serving with the same pid throughout, the status
//! says `unhealthy` and then `fellBack`, and a rollback to the earlier spec converges at once.

mod common;

use anyhow::{Context, Result, ensure};
use colony::model::ProcessState;
use common::*;
use maestro_common::contract;
use maestro_proto::logs::v1::record;
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
    let (client, key) = colony_client(&dir, agent.running.addr)?;
    let before = logs.seen.len();
    for _ in 0..2 {
        converge_once(&client, &key).await?;
    }
    let bp = client
        .get_blueprint(&key, SITE, "api")
        .await?
        .context("the blueprint")?;
    ensure!(
        contract::fell_back_at(&bp.status.to_string(), 2).map(|v| v.attempts) == Some(2),
        "{}",
        bp.status
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
