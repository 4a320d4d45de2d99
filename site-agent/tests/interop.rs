//! One interoperability suite, run twice: the site agent on its embedded colony, and the site
//! agent pointed at a real ColonyOS v1.9.12 server (from `scripts/colonies.sh`) with nothing but
//! the colony owner's key — the same expectations on both. Bootstrap succeeds, a
//! ProcessDeployment from a bare Git repository converges, its status is written back into the
//! colony and reported, replicas go up and down without touching running instances, a spec
//! change replaces them, a restart of the agent adopts what runs, the self-healing cron's
//! reconcile (kwargs `{kind}` only, every 60 s upstream) is handled, and deleting the file cleans
//! up.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use colony::model::{Process, ProcessState};
use colony::{Colony, ColonyClient, PrivateKey};
use common::*;
use maestro_proto::logs::v1::record;
use maestro_testkit::colonies::RealColonies;
use maestro_testkit::git::TestRepo;
use maestro_testkit::until;
use serde_json::json;

const SITE: &str = "plant-interop";

/// Deadlock guard of the wait for the self-healing cron: upstream fires it 60 s after the first
/// blueprint of a kind was added.
const CRON_GUARD: Duration = Duration::from_secs(120);

/// The embedded colony's cron interval in this suite (upstream's is fixed at 60 s).
const EMBEDDED_CRON_MS: u64 = 3_000;

/// The colony the agent uses.
enum Target {
    /// The agent starts its own.
    Embedded,
    /// A real server; the test (as its server owner) creates the site's colony.
    Real(RealColonies),
}

/// Creates the site's colony on `real` and hands the agent only its owner's key.
async fn prepare_real_colony(real: &RealColonies, data_dir: &std::path::Path) -> Result<()> {
    let server_owner = PrivateKey::from_hex(&real.server_prvkey)?;
    let colony_owner = PrivateKey::generate();
    ColonyClient::new(&real.url)?
        .add_colony(
            &server_owner,
            &Colony {
                colony_id: colony_owner.id(),
                name: SITE.to_owned(),
            },
        )
        .await
        .context("the server owner creates the site's colony")?;
    std::fs::create_dir_all(data_dir)?;
    let keys = json!({ "colony_owner": colony_owner.to_hex() });
    maestro_common::durable::write_file(
        &data_dir.join("keys.json"),
        keys.to_string().as_bytes(),
        0o600,
        true,
    )?;
    Ok(())
}

async fn deploy_converge_and_delete(target: &Target) -> Result<()> {
    let guard = workload_guard();
    let intent = maestro_common::ids::intent_id("web", "north");
    let path = format!("sites/{SITE}/ProcessDeployment/web.json");
    let mut repo = TestRepo::new()?;
    repo.put(
        &path,
        process_blueprint("web", &intent, 1, 2, &["3600"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: web gen 1 (order order-1, intent {intent})"
    ))?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let mut config = agent_config(&dir, SITE, &repo.path(), &logs.endpoint());
    match target {
        Target::Real(real) => {
            prepare_real_colony(real, &dir).await?;
            config.colony_url = Some(real.url.clone());
        }
        Target::Embedded => config.colony_reconcile_interval_ms = EMBEDDED_CRON_MS,
    }
    let agent = Agent::start(config.clone()).await?;

    let rec = logs
        .wait_for("converged gen 1", |r| is_converged(r, "web", 1, 2))
        .await?;
    assert_eq!(rec.intent_id, intent);
    let running = guard.workloads();
    assert_eq!(running.len(), 2, "{running:?}");
    assert_eq!(
        status_pids(&rec),
        running.iter().map(|w| w.pid).collect::<Vec<_>>()
    );

    // The reconciler's status is in the colony itself, readable by the agent's user.
    let (client, agent_key) = colony_client(&dir, agent.running.addr)?;
    let status = until("the blueprint status in the colony", GUARD, async || {
        let bp = client.get_blueprint(&agent_key, SITE, "web").await?;
        Ok(bp
            .map(|b| b.status)
            .filter(|s| s["instances"].as_array().is_some_and(|a| a.len() == 2)))
    })
    .await?;
    assert_eq!(status["runningInstances"], 2, "{status}");

    let pids = |g: &maestro_testkit::procs::WorkloadGuard| -> Vec<u32> {
        g.workloads().iter().map(|w| w.pid).collect()
    };
    let first = pids(&guard);

    // A restart adopts the running instances: the same pids, no duplicates.
    agent.stop().await?;
    assert_eq!(
        pids(&guard),
        first,
        "stopping the agent leaves its workloads"
    );
    logs.drain();
    let last_status = logs
        .seen
        .iter()
        .filter(|r| r.stream == "status")
        .map(|r| r.sender_sequence)
        .max()
        .unwrap_or(0);
    let agent = Agent::start(config).await?;
    logs.wait_for("the adoption log", |r| {
        matches!(&r.body, Some(record::Body::Log(l)) if l.message.starts_with("startup convergence done; adopted 2 "))
    })
    .await?;
    // Sent once at the start, possibly before the adoption log.
    let rec = logs
        .seen_or_wait_for("status after the restart", |r| {
            r.stream == "status" && r.sender_sequence > last_status && r.blueprint == "web"
        })
        .await?;
    assert!(is_converged(&rec, "web", 1, 2));
    assert_eq!(status_pids(&rec), first, "the same instances are adopted");
    assert_eq!(pids(&guard), first, "no duplicates after the restart");

    // The self-healing cron: the colony submits a reconcile with kwargs `{kind}` only; the
    // reconciler handles it (all blueprints of the kind), writes the status and closes it.
    let (client, agent_key) = colony_client(&dir, agent.running.addr)?;
    let cron = until("a cron reconcile handled", CRON_GUARD, async || {
        let done = client
            .get_processes(&agent_key, SITE, ProcessState::Success, 100)
            .await?;
        Ok(done.into_iter().find(is_cron_reconcile))
    })
    .await?;
    assert!(!cron.assigned_executor_id.is_empty());
    let status = client
        .get_blueprint(&agent_key, SITE, "web")
        .await?
        .context("web")?
        .status;
    let updated: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(status["lastUpdated"].clone())
            .with_context(|| format!("lastUpdated in {status}"))?;
    assert!(
        updated >= cron.start_time,
        "the cron's reconcile wrote the status: {updated} < {}",
        cron.start_time
    );
    assert_eq!(status["runningInstances"], 2, "{status}");
    assert_eq!(pids(&guard), first, "the cron's reconcile touched nothing");

    // Replicas up, then down: the running instances are kept, one is added, then one stopped.
    for (generation, replicas) in [(2, 3), (3, 2)] {
        repo.put(
            &path,
            process_blueprint(
                "web",
                &intent,
                generation,
                replicas,
                &["3600"],
                &guard.value,
            ),
        );
        repo.commit(&format!(
            "maestro: web gen {generation} (order order-{generation}, intent {intent})"
        ))?;
        logs.wait_for("converged after scaling", |r| {
            is_converged(r, "web", generation, replicas)
        })
        .await?;
        let now = pids(&guard);
        assert_eq!(now.len(), replicas as usize, "{now:?}");
        let kept = first.iter().filter(|p| now.contains(p)).count();
        assert_eq!(
            kept,
            2.min(replicas as usize),
            "scaling kept the running instances"
        );
    }
    // A spec change: every instance replaced.
    let before = pids(&guard);
    repo.put(
        &path,
        process_blueprint("web", &intent, 4, 2, &["3601"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: web gen 4 (order order-4, intent {intent})"
    ))?;
    logs.wait_for("converged after a spec change", |r| {
        is_converged(r, "web", 4, 2)
    })
    .await?;
    let after = pids(&guard);
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );

    repo.delete(&path);
    repo.commit(&format!(
        "maestro: web gen 5 (order order-5, intent {intent})"
    ))?;
    logs.wait_for(
        "removed",
        |r| matches!(&r.body, Some(record::Body::Status(s)) if r.blueprint == "web" && s.removed),
    )
    .await?;
    until("the workloads to be gone", GUARD, async || {
        Ok(guard.workloads().is_empty().then_some(()))
    })
    .await?;
    assert!(
        client
            .get_blueprint(&agent_key, SITE, "web")
            .await?
            .is_none()
    );
    teardown(agent, &dir, &guard).await
}

/// A reconcile the self-healing cron submitted: kwargs exactly `{kind}`.
fn is_cron_reconcile(p: &Process) -> bool {
    p.spec.func_name == "reconcile"
        && p.spec.kwargs.len() == 1
        && p.spec.kwargs.get("kind").and_then(|k| k.as_str()) == Some("ProcessDeployment")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_colony() -> Result<()> {
    deploy_converge_and_delete(&Target::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_colonies_v1_9_12_server() -> Result<()> {
    let real = tokio::task::spawn_blocking(RealColonies::start)
        .await?
        .context("the real ColonyOS server must start (scripts/colonies.sh)")?;
    let target = Target::Real(real);
    let result = deploy_converge_and_delete(&target).await;
    if let (Err(_), Target::Real(real)) = (&result, &target) {
        eprintln!("real server log tail:\n{}", real.log_tail(40));
    }
    result
}
