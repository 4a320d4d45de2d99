//! `bench-rollout`: how long a rollout in waves takes over a federation, next to the same kind
//! of change made everywhere at once, and how long an aborted rollout takes to come back.
//!
//! Starts the dev federation in this process (`maestroctl dev`'s: maestro, per domain a log
//! server, a domain orchestrator and a bare Git repository, per site a site agent with its
//! embedded colony and the process reconciler; mutual TLS on every hop), DOMAINS ×
//! SITES_PER_DOMAIN sites, then, through maestro's `OrderService` as the dev operator:
//!
//! 1. adds the `demo-app` service (1 replica: one `/bin/sh` per site) everywhere without a
//!    rollout, and times `CreateOrder` to `completed` on `WatchOrder`: one change everywhere at
//!    once, the baseline;
//! 2. modifies it (a new message) with a rollout of 4 waves of 25 % (every site of a wave must
//!    succeed, one failure aborts, BAKE_MS of bake, at most a quarter of the sites changing at
//!    once), times `CreateOrder` to `completed`, checks that the rollout completed with 4 waves
//!    and every site succeeded, and gives each wave's time from the order's notes (maestro's
//!    clock: the order's date or the previous wave passing, to the wave passing). From the
//!    `WatchOrder` events it splits each wave in two: until every site of the wave is shown
//!    healthy at the new generation (baking or succeeded), then until the wave passed;
//! 3. modifies it again with the same strategy, sends `ControlRollout` ABORT as soon as the
//!    rollout is at its third wave, and times the abort's reply to the order being final
//!    (`failed`, rollout `rolled_back`). It also follows the domains' own status of the service
//!    (`WatchIntentStatus`, with maestro's certificate) from the reply until every site that
//!    changed reports the previous generation as the one it is to run and runs, ready: when the
//!    sites are really back.
//!
//! Then stops the federation and the processes its sites started (also after an error or a
//! signal).
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-rollout [DOMAINS SITES_PER_DOMAIN
//! BAKE_MS [SYNC_MS]]` (default 16 4 1000: 64 sites, waves of 16; SYNC_MS is the site agents'
//! Git fetch interval, 500 ms in the dev federation). A smoke run: `bench-rollout 2 2 0`.

use anyhow::{Context, anyhow, bail, ensure};
use maestro_cli::client::MaestroClient;
use maestro_cli::dev::{DevOptions, Federation, start_federation, wait_for_domains};
use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::ids::intent_id;
use maestro_common::time::millis;
use maestro_common::tls::TlsSource;
use maestro_proto::order::v1::{
    ControlRolloutRequest, ItemAction, OrderState, RolloutCommand, RolloutStatus, ServiceOrder,
    WatchOrderRequest,
};
use maestro_tests::orders;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

const SERVICE: &str = "rollout-bench";
const WAVES: usize = 4;
/// The wave at which step 3 aborts (0-based: the third).
const ABORT_AT_WAVE: u32 = 2;
/// Bound on the domains registering and on each order.
const DEADLINE: Duration = Duration::from_secs(600);

/// What the command line asks.
struct Args {
    domains: usize,
    sites_per_domain: usize,
    bake_ms: u64,
    sync_ms: u64,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let args: Vec<u64> = std::env::args()
            .skip(1)
            .map(|a| {
                a.parse::<u64>()
                    .with_context(|| format!("{a:?} is not a number"))
            })
            .collect::<Result<_, _>>()?;
        ensure!(
            args.len() <= 4,
            "usage: bench-rollout [DOMAINS SITES_PER_DOMAIN BAKE_MS [SYNC_MS]]"
        );
        let a = Args {
            domains: usize::try_from(args.first().copied().unwrap_or(16))?,
            sites_per_domain: usize::try_from(args.get(1).copied().unwrap_or(4))?,
            bake_ms: args.get(2).copied().unwrap_or(1000),
            sync_ms: args
                .get(3)
                .copied()
                .unwrap_or(DevOptions::new("").sync_interval_ms),
        };
        ensure!(
            a.sites() >= WAVES,
            "{WAVES} waves need at least {WAVES} sites (DOMAINS × SITES_PER_DOMAIN)"
        );
        Ok(a)
    }

    fn sites(&self) -> usize {
        self.domains * self.sites_per_domain
    }

    /// A quarter of the sites: one wave changes at once.
    fn max_changing(&self) -> usize {
        (self.sites() / 4).max(1)
    }

    fn strategy(&self) -> String {
        serde_json::json!({
            "waves": {"percentages": [25, 25, 25, 25]},
            "gate": {
                "success": {"fraction": 1.0},
                "failure": {"count": 1},
                "bake_ms": self.bake_ms,
                "report_timeout_ms": 30000,
                "silent": "block",
                "fall_back_after": 3
            },
            "max_changing": self.max_changing()
        })
        .to_string()
    }
}

/// The figures of a run.
struct Figures {
    start: Duration,
    baseline: Duration,
    rollout: Duration,
    waves: Vec<Duration>,
    /// Per wave, from the watch: start -> every site healthy, then -> passed.
    split: Vec<Option<(Duration, Duration)>>,
    abort_reply: Duration,
    to_abort: Duration,
    rollback: Duration,
    rollback_notes: Option<Duration>,
    rolled_back: u32,
    /// From the abort's reply until every site that changed runs the previous generation, as
    /// the domains report it.
    all_back: Duration,
    /// Sites not yet back when the order ended.
    late: usize,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms_between(from: i64, to: i64) -> Duration {
    Duration::from_millis(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
}

/// The only item's rollout.
fn rollout(order: &ServiceOrder) -> Option<&RolloutStatus> {
    order.items.first()?.rollout.as_ref()
}

/// A line on where an order stands, for errors.
fn summary(order: &ServiceOrder) -> String {
    let item = order.items.first();
    let mut s = format!(
        "order {} {:?}, item: {}",
        order.id,
        order.state(),
        item.map_or("-", |i| i.reason.as_str())
    );
    if let Some(r) = rollout(order) {
        s += &format!(
            "; rollout {} wave {}/{} changed {} succeeded {} failed {} {}",
            r.phase, r.wave, r.waves, r.changed, r.succeeded, r.failed, r.abort_reason
        );
        let holding: Vec<String> = r
            .sites
            .iter()
            .filter(|s| !s.detail.is_empty())
            .take(4)
            .map(|s| format!("{}/{}: {}", s.domain, s.site, s.detail))
            .collect();
        if !holding.is_empty() {
            s += &format!(" ({})", holding.join("; "));
        }
    }
    if let Some(n) = order.note.last() {
        s += &format!("; last note: {}", n.text);
    }
    s
}

/// Follows order `id` on `WatchOrder` until `done` holds; returns that revision and when it
/// arrived. Fails when the order ends otherwise or `deadline` passes.
async fn follow(
    client: &MaestroClient,
    id: &str,
    what: &str,
    deadline: Instant,
    mut done: impl FnMut(&ServiceOrder, Instant) -> bool,
) -> anyhow::Result<(ServiceOrder, Instant)> {
    let mut last: Option<ServiceOrder> = None;
    let watch = async {
        let mut stream = client
            .orders()
            .watch_order(WatchOrderRequest { id: id.into() })
            .await
            .context("WatchOrder")?
            .into_inner();
        while let Some(event) = stream.next().await {
            let event = event.context("WatchOrder stream")?;
            let at = Instant::now();
            let Some(order) = event.order else { continue };
            if done(&order, at) {
                return Ok((order, at));
            }
            if event.r#final || orders::is_final(order.state()) {
                bail!("{what}: the order ended otherwise: {}", summary(&order));
            }
            last = Some(order);
        }
        bail!("{what}: the WatchOrder stream ended")
    };
    match tokio::time::timeout_at(deadline.into(), watch).await {
        Ok(r) => r,
        Err(_) => Err(anyhow!(
            "{what}: not within {}s; {}",
            DEADLINE.as_secs(),
            last.as_ref()
                .map_or_else(|| "no order seen".into(), summary)
        )),
    }
}

/// The date (ms) of the first note of `order` whose text contains `text`.
fn note_at(order: &ServiceOrder, text: &str) -> Option<i64> {
    order
        .note
        .iter()
        .find(|n| n.text.contains(text))
        .map(|n| millis(n.date.as_ref()))
}

/// Each wave's time from the notes: from the order's date (wave 0) or the previous wave
/// passing, to the wave passing (the last one passing is the rollout completing).
fn wave_times(order: &ServiceOrder, waves: usize) -> anyhow::Result<Vec<Duration>> {
    let mut from = millis(order.order_date.as_ref());
    let mut out = Vec::new();
    for w in 0..waves {
        let to = if w + 1 == waves {
            note_at(order, "rollout completed")
        } else {
            note_at(order, &format!("rollout wave {w} passed"))
        }
        .with_context(|| format!("no note of wave {w} passing in {:?}", order.note))?;
        out.push(ms_between(from, to));
        from = to;
    }
    Ok(out)
}

async fn create(
    client: &MaestroClient,
    key: &str,
    action: ItemAction,
    message: &str,
    domains: &[&str],
    rollout_json: Option<String>,
) -> anyhow::Result<ServiceOrder> {
    let mut spec = orders::demo_order(action, SERVICE, message, 1, domains);
    if let Some(json) = rollout_json {
        spec.items[0].rollout_json = json;
    }
    let mut orders_client = client.orders();
    orders::create(&mut orders_client, key, spec).await
}

/// When each wave started, had every site healthy at the new generation, and passed, as the
/// `WatchOrder` events show them (the benchmark's clock: each event's arrival).
struct WaveClock {
    started: Vec<Option<Instant>>,
    healthy: Vec<Option<Instant>>,
    passed: Vec<Option<Instant>>,
    /// Sites first seen healthy (baking or succeeded), by `domain/site`, with their wave.
    sites: BTreeMap<String, (usize, Instant)>,
}

impl WaveClock {
    fn new(created: Instant) -> Self {
        let mut started = vec![None; WAVES];
        started[0] = Some(created);
        WaveClock {
            started,
            healthy: vec![None; WAVES],
            passed: vec![None; WAVES],
            sites: BTreeMap::new(),
        }
    }

    fn see(&mut self, order: &ServiceOrder, at: Instant) {
        let Some(r) = rollout(order) else { return };
        let wave = r.wave as usize;
        let passed = if r.phase == "completed" {
            WAVES
        } else {
            wave.min(WAVES)
        };
        for w in 0..passed {
            self.passed[w].get_or_insert(at);
        }
        for w in 0..=wave.min(WAVES - 1) {
            self.started[w].get_or_insert(at);
        }
        for s in &r.sites {
            if s.state == "succeeded" || s.detail.starts_with("baking") {
                self.sites
                    .entry(format!("{}/{}", s.domain, s.site))
                    .or_insert((s.wave as usize, at));
            }
        }
        for (w, healthy) in self.healthy.iter_mut().enumerate() {
            let of_wave: Vec<Instant> = self
                .sites
                .values()
                .filter(|(sw, _)| *sw == w)
                .map(|(_, t)| *t)
                .collect();
            let size = r.sites.iter().filter(|s| s.wave as usize == w).count();
            if healthy.is_none() && size > 0 && of_wave.len() == size {
                *healthy = of_wave.into_iter().max();
            }
        }
    }

    /// Per wave: (start -> every site healthy, every site healthy -> passed), when seen.
    fn split(&self) -> Vec<Option<(Duration, Duration)>> {
        (0..WAVES)
            .map(|w| {
                let (s, h, p) = (self.started[w]?, self.healthy[w]?, self.passed[w]?);
                Some((
                    h.saturating_duration_since(s),
                    p.saturating_duration_since(h),
                ))
            })
            .collect()
    }
}

async fn run(fed: &Federation, args: &Args, start: Duration) -> anyhow::Result<Figures> {
    let client = MaestroClient::new(&fed.client_settings())?;
    let ids: Vec<String> = fed.domains.iter().map(|d| d.id.clone()).collect();
    let domains: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_for_domains(&client, &ids, Instant::now() + DEADLINE).await?;
    let sites = u32::try_from(args.sites())?;

    // 1. Everywhere at once.
    let t0 = Instant::now();
    let order = create(&client, "bench-add", ItemAction::Add, "v1", &domains, None).await?;
    let (_, at) = follow(&client, &order.id, "the add", t0 + DEADLINE, |o, _| {
        o.state() == OrderState::Completed
    })
    .await?;
    let baseline = at - t0;
    println!(
        "1. add everywhere at once ({sites} sites): created -> completed in {}",
        secs(baseline)
    );

    // 2. A rollout in 4 waves.
    let strategy = args.strategy();
    let t0 = Instant::now();
    let order = create(
        &client,
        "bench-rollout",
        ItemAction::Modify,
        "v2",
        &domains,
        Some(strategy.clone()),
    )
    .await?;
    let mut clock = WaveClock::new(t0);
    let (done, at) = follow(&client, &order.id, "the rollout", t0 + DEADLINE, |o, at| {
        clock.see(o, at);
        o.state() == OrderState::Completed
    })
    .await?;
    let split = clock.split();
    let total = at - t0;
    let r = rollout(&done).context("the completed item has no rollout")?;
    ensure!(
        r.phase == "completed"
            && r.waves as usize == WAVES
            && r.succeeded == sites
            && r.failed == 0
            && r.sites.len() == sites as usize
            && r.sites.iter().all(|s| s.state == "succeeded"),
        "the rollout did not complete as expected: {}",
        summary(&done)
    );
    let waves = wave_times(&done, WAVES)?;
    let sizes: Vec<String> = (0..WAVES)
        .map(|w| {
            let n = r.sites.iter().filter(|s| s.wave as usize == w).count();
            n.to_string()
        })
        .collect();
    println!(
        "2. rollout in {WAVES} waves ({} sites), bake {} ms: created -> completed in {} ({:.2} × the add)",
        sizes.join(" + "),
        args.bake_ms,
        secs(total),
        total.as_secs_f64() / baseline.as_secs_f64()
    );
    for (w, (d, split)) in waves.iter().zip(&split).enumerate() {
        let detail = split.map_or_else(
            || "not every step seen on the watch".into(),
            |(converge, gate)| {
                format!(
                    "its sites healthy at the new generation after {}, then {} to pass",
                    secs(converge),
                    secs(gate)
                )
            },
        );
        println!("   wave {w}: {} ({detail})", secs(*d));
    }

    // 3. The same rollout, aborted at its third wave.
    let t0 = Instant::now();
    let order = create(
        &client,
        "bench-abort",
        ItemAction::Modify,
        "v3",
        &domains,
        Some(strategy),
    )
    .await?;
    let what = format!("the rollout to reach wave {ABORT_AT_WAVE}");
    let (_, seen) = follow(&client, &order.id, &what, t0 + DEADLINE, |o, _| {
        rollout(o).is_some_and(|r| r.wave >= ABORT_AT_WAVE)
    })
    .await?;
    let to_abort = seen - t0;
    let sent = Instant::now();
    let reply = client
        .call(client.orders().control_rollout(ControlRolloutRequest {
            id: order.id.clone(),
            item_id: "1".into(),
            command: RolloutCommand::Abort as i32,
        }))
        .await
        .context("ControlRollout ABORT")?;
    let replied = Instant::now();
    let r = rollout(&reply).context("the abort's reply has no rollout")?;
    ensure!(
        r.wave == ABORT_AT_WAVE && matches!(r.phase.as_str(), "rolling_back" | "rolled_back"),
        "the abort did not take at wave {ABORT_AT_WAVE}: {}",
        summary(&reply)
    );
    // Every site that changed returns; the waiting ones never moved.
    let returning: Vec<(String, String)> = r
        .sites
        .iter()
        .filter(|s| s.state != "waiting")
        .map(|s| (s.domain.clone(), s.site.clone()))
        .collect();
    ensure!(
        returning.len() == r.changed as usize,
        "the abort's reply counts {} sites changed but {} not waiting: {}",
        r.changed,
        returning.len(),
        summary(&reply)
    );
    let (ended, back) = tokio::join!(
        follow(
            &client,
            &order.id,
            "the rollback",
            replied + DEADLINE,
            |o, _| orders::is_final(o.state()),
        ),
        sites_back(fed, &returning, r.previous_generation, replied + DEADLINE),
    );
    let (end, at) = ended?;
    let back = back?;
    let rollback = at - replied;
    let r = rollout(&end).context("the rolled back item has no rollout")?;
    ensure!(
        end.state() == OrderState::Failed && r.phase == "rolled_back",
        "the abort did not end in a rollback: {}",
        summary(&end)
    );
    let rolled_back = r.sites.iter().filter(|s| s.state == "rolled_back").count();
    ensure!(
        rolled_back == returning.len()
            && r.sites
                .iter()
                .all(|s| s.state == "rolled_back" || s.state == "waiting"),
        "not every site that changed was rolled back: {}",
        summary(&end)
    );
    let rollback_notes = note_at(&end, "rollout aborted")
        .zip(note_at(&end, "rolled back:"))
        .map(|(a, b)| ms_between(a, b));
    let all_back = back.values().max().map_or(Duration::ZERO, |t| *t - replied);
    let late = back.values().filter(|t| **t > at).count();
    println!(
        "3. abort at wave {ABORT_AT_WAVE} (seen {} after creation; the abort answered in {}): \
         {} sites to return; abort's reply -> order failed, rollout rolled_back, in {}{}; in the \
         domains' status every one of them runs generation {} again {} after the reply ({} of \
         them only after the order had failed)",
        secs(to_abort),
        secs(replied - sent),
        r.changed,
        secs(rollback),
        rollback_notes.map_or_else(String::new, |d| format!(
            " ({} between the order's notes)",
            secs(d)
        )),
        r.previous_generation,
        secs(all_back),
        late,
    );
    Ok(Figures {
        start,
        baseline,
        rollout: total,
        waves,
        split,
        abort_reply: replied - sent,
        to_abort,
        rollback,
        rollback_notes,
        rolled_back: r.changed,
        all_back,
        late,
    })
}

/// Follows the domains' own status of the service (`WatchIntentStatus`, as maestro follows it,
/// with maestro's certificate of the federation) until each of `sites` (domain, site) reports
/// `generation` as the generation it is to run and runs, every blueprint ready; returns when
/// each was first seen so. Streams opened after the abort's reply: their first status is the
/// current one, so no site counts as back from a status older than the reply.
async fn sites_back(
    fed: &Federation,
    sites: &[(String, String)],
    generation: u64,
    deadline: Instant,
) -> anyhow::Result<BTreeMap<(String, String), Instant>> {
    let tls = match &fed.tls {
        Some(t) => TlsSource::load(&t.maestro)?,
        None => None,
    };
    let mut pending: BTreeSet<(String, String)> = sites.iter().cloned().collect();
    let mut back = BTreeMap::new();
    let mut channels = Vec::new();
    for d in &fed.domains {
        if !pending.iter().any(|(domain, _)| *domain == d.id) {
            continue;
        }
        let expect = match &tls {
            Some(_) => Some(Role::Domain {
                domain: ResourceName::parse("domain", &d.id)?,
            }),
            None => None,
        };
        let channel = maestro_common::grpc::channel_with(&d.endpoint, tls.as_ref(), expect)?;
        channels.push((d.id.clone(), channel));
    }
    let mut streams = maestro_tests::bench::intent_status_streams(channels).await?;
    let watch = async {
        while let Some((domain, status)) = streams.next().await {
            let status = status.with_context(|| format!("status stream of domain {domain}"))?;
            if status.intent_id != intent_id(SERVICE, &domain) {
                continue;
            }
            let at = Instant::now();
            for s in &status.sites {
                let runs = s.desired_generation == generation
                    && s.observed_generation == generation
                    && s.total > 0
                    && s.ready == s.total;
                if runs && pending.remove(&(domain.clone(), s.site.clone())) {
                    back.insert((domain.clone(), s.site.clone()), at);
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
        }
        bail!("the domains' status streams ended")
    };
    match tokio::time::timeout_at(deadline.into(), watch).await {
        Ok(r) => r.map(|()| back),
        Err(_) => bail!(
            "sites not back at generation {generation} within {}s: {pending:?}",
            DEADLINE.as_secs()
        ),
    }
}

fn table(args: &Args, f: &Figures) {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!();
    println!(
        "machine: {cpus} CPUs (available parallelism); {} domains × {} sites = {} sites, bake {} ms, \
         max_changing {}, site sync every {} ms",
        args.domains,
        args.sites_per_domain,
        args.sites(),
        args.bake_ms,
        args.max_changing(),
        args.sync_ms
    );
    let rows = [
        ("federation start", secs(f.start)),
        ("add everywhere at once", secs(f.baseline)),
        (
            "rollout, 4 waves",
            format!(
                "{} ({:.2} × the add)",
                secs(f.rollout),
                f.rollout.as_secs_f64() / f.baseline.as_secs_f64()
            ),
        ),
        (
            "  each wave",
            f.waves
                .iter()
                .map(|d| secs(*d))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "  each wave: sites healthy",
            f.split
                .iter()
                .map(|s| s.map_or_else(|| "-".into(), |(c, _)| secs(c)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "  each wave: healthy -> passed",
            f.split
                .iter()
                .map(|s| s.map_or_else(|| "-".into(), |(_, g)| secs(g)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("created -> third wave seen", secs(f.to_abort)),
        ("ControlRollout ABORT reply", secs(f.abort_reply)),
        (
            "rollback (reply -> failed)",
            format!("{} ({} sites)", secs(f.rollback), f.rolled_back),
        ),
        (
            "  abort -> rolled back notes",
            f.rollback_notes.map_or_else(|| "-".into(), secs),
        ),
        (
            "sites back (domains' status)",
            format!(
                "{} after the reply ({} not back yet when the order failed)",
                secs(f.all_back),
                f.late
            ),
        ),
    ];
    for (name, value) in rows {
        println!("  {name:<32} {value}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-rollout.rs"));
    let args = Args::parse()?;
    let dir = tempfile::Builder::new()
        .prefix("bench-rollout-")
        .tempdir()?;
    let opts = DevOptions {
        domains: args.domains,
        sites_per_domain: args.sites_per_domain,
        sync_interval_ms: args.sync_ms,
        ..DevOptions::new(dir.path())
    };
    let signals = maestro_common::shutdown::on_signals();
    let t0 = Instant::now();
    let mut fed = start_federation(opts, CancellationToken::new())
        .await
        .context("starting the federation")?;
    let start = t0.elapsed();
    println!(
        "federation: {} domains × {} sites started in {}",
        args.domains,
        args.sites_per_domain,
        secs(start)
    );
    let result = tokio::select! {
        r = run(&fed, &args, start) => r,
        () = signals.cancelled() => Err(anyhow!("interrupted")),
    };
    let report = fed.stop().await;
    println!(
        "stopped the federation and {} workload processes",
        report.workloads_stopped
    );
    let mut problems = report.workload_errors;
    if !report.timed_out.is_empty() {
        problems.push(format!(
            "did not stop in time: {}",
            report.timed_out.join(", ")
        ));
    }
    if !report.failed.is_empty() {
        problems.push(format!("crashed: {}", report.failed.join(", ")));
    }
    if result.is_err() {
        problems
            .iter()
            .for_each(|p| eprintln!("warning: stopping: {p}"));
    }
    let figures = result?;
    ensure!(problems.is_empty(), "stopping: {}", problems.join("; "));
    table(&args, &figures);
    Ok(())
}
