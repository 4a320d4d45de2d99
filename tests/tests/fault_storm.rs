//! The seeded fault suite: a storm of add / modify / delete orders across two domains while every
//! kind of component is SIGKILLed at seeded moments and started again — maestro, the domain
//! orchestrators, the log servers and the site agents (those in the middle of starting or
//! replacing processes). Afterwards: every acknowledged order is still there and final, none is
//! duplicated, and each service runs exactly what its last order asked for at every site — no
//! lost, duplicated or orphaned process.
//!
//! `MAESTRO_FAULT_SEED=<n>` replays a run; the seed is printed at the start and on failure.
//! `MAESTRO_FAULT_ORDERS=<n>` makes a longer storm (default 24).

use maestro_common::backoff::Backoff;
use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_tests::faults::{self, Rng, Want};
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(180);
const SERVICES: usize = 4;
const DOMAINS: [&str; 2] = ["north", "south"];

/// Which component a fault kills.
#[derive(Debug, Clone, Copy)]
enum Victim {
    Maestro,
    Orchestrator(usize),
    LogServer(usize),
    SiteAgent(usize),
}

impl Victim {
    fn pick(rng: &mut Rng) -> Self {
        let d = rng.below(DOMAINS.len() as u64) as usize;
        match rng.below(4) {
            0 => Self::Maestro,
            1 => Self::Orchestrator(d),
            2 => Self::LogServer(d),
            _ => Self::SiteAgent(d),
        }
    }

    fn kill_and_restart(self, fed: &mut ProcessFederation) -> anyhow::Result<()> {
        let node = match self {
            Self::Maestro => &mut fed.maestro,
            Self::Orchestrator(d) => &mut fed.domain(DOMAINS[d]).orchestrator,
            Self::LogServer(d) => &mut fed.domain(DOMAINS[d]).log_server,
            Self::SiteAgent(d) => &mut fed.domain(DOMAINS[d]).site_agents[0],
        };
        node.kill9();
        node.start()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_with_sigkills_loses_duplicates_and_orphans_nothing() -> anyhow::Result<()> {
    let seed = faults::seed("fault storm");
    let count = faults::env_u64("MAESTRO_FAULT_ORDERS").unwrap_or(24) as usize;
    eprintln!("fault storm: {count} orders");
    let tag = format!("storm{}", std::process::id());
    let services: Vec<String> = (0..SERVICES).map(|i| format!("{tag}-s{i}")).collect();
    let _cleanup: Vec<_> = services.iter().map(|s| workload_cleanup(s)).collect();
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &DOMAINS,
        1,
    )?;
    let result = storm(&mut fed, seed, count, &tag, &services).await;
    if let Err(e) = &result {
        eprintln!("fault storm with seed {seed}: {}", fed.failure_report(e));
    }
    result
}

async fn storm(
    fed: &mut ProcessFederation,
    seed: u64,
    count: usize,
    tag: &str,
    services: &[String],
) -> anyhow::Result<()> {
    let mut rng = Rng::new(seed);
    let api = fed.api.clone();
    orders::wait_domains_ready(&api, &DOMAINS, TIMEOUT).await?;
    let mut want: BTreeMap<String, Want> = BTreeMap::new();
    let mut acknowledged = Vec::new();
    // Each fault, and how long after it the order placed just before it was final.
    let mut injected: Vec<(String, Duration)> = Vec::new();
    for n in 0..count {
        let service = &services[rng.below(services.len() as u64) as usize];
        let (action, target) = match want.get(service) {
            None | Some(Want::Deleted) => {
                (ItemAction::Add, Want::Running(1 + rng.below(3) as usize))
            }
            Some(Want::Running(_)) if rng.below(3) == 0 => (ItemAction::Delete, Want::Deleted),
            Some(Want::Running(_)) => {
                (ItemAction::Modify, Want::Running(1 + rng.below(3) as usize))
            }
        };
        let replicas = match target {
            Want::Running(r) => r as i64,
            Want::Deleted => 0,
        };
        let spec = orders::demo_order(action, service, &format!("storm {n}"), replicas, &DOMAINS);
        let key = format!("{tag}-{n}");
        // Maestro may be down: retry the same key until it is acknowledged (never twice).
        let started = Instant::now();
        let mut retry = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let never = tokio_util::sync::CancellationToken::new();
        let order = loop {
            let attempt = async {
                let mut client = orders::order_client(&api)?;
                orders::create(&mut client, &key, spec.clone()).await
            };
            match attempt.await {
                Ok(order) => break order,
                // Retry pacing while maestro restarts, not synchronisation.
                Err(_) if started.elapsed() < TIMEOUT => {
                    retry.wait(&never).await;
                }
                Err(e) => return Err(e.context(format!("order {n} never acknowledged"))),
            }
        };
        let id = order.id.clone();
        acknowledged.push((key, order.id, spec));
        want.insert(service.clone(), target);
        // About one fault for every two orders, at a seeded point of the storm, while that
        // order is in flight; then the time until it is final (the earlier ones may still be
        // in flight too: the storm goes on without waiting for them).
        if rng.below(2) == 0 {
            let victim = Victim::pick(&mut rng);
            victim.kill_and_restart(fed)?;
            let hit = Instant::now();
            orders::watch_until_final(&api, &id, TIMEOUT)
                .await
                .map_err(|e| e.context(format!("order {n} after {victim:?}")))?;
            injected.push((format!("after order {n}: {victim:?}"), hit.elapsed()));
        }
    }
    eprintln!("faults injected: {}", injected.len());
    for (f, took) in &injected {
        eprintln!("  {f}: its order final {:.2} s later", took.as_secs_f64());
    }

    // Every acknowledged order is still there, once, and ends.
    let settle = Instant::now();
    let mut client = orders::order_client(&api)?;
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for (key, id, spec) in &acknowledged {
        let (done, _) = match orders::watch_until_final(&api, id, TIMEOUT).await {
            Ok(r) => r,
            Err(e) => {
                let stuck = orders::get(&mut client, id).await?;
                return Err(e.context(format!("order {key} stuck: {stuck:#?}")));
            }
        };
        anyhow::ensure!(
            !matches!(done.state(), OrderState::Failed | OrderState::Rejected),
            "order {key} ({id}) ended {:?}: {done:#?}",
            done.state()
        );
        *states.entry(format!("{:?}", done.state())).or_default() += 1;
        // The same key and body return the same order: retries and restarts duplicated nothing.
        let again = orders::create(&mut client, key, spec.clone()).await?;
        anyhow::ensure!(again.id == *id, "key {key} made a second order");
    }
    let settled = settle.elapsed();
    eprintln!(
        "storm figures: {} orders acknowledged, 0 lost, final states {states:?}, all final {:.1} s after the last order",
        acknowledged.len(),
        settled.as_secs_f64()
    );

    // Exactly what the last order of each service asked for runs at every site.
    faults::converged(&want, &["north-1", "south-1"], TIMEOUT).await?;
    eprintln!("storm figures: 0 duplicated, 0 orphaned processes");
    Ok(())
}
