//! `bench-e2e`: one change from an order to running processes to `completed`, next to the parts
//! no orchestrator can skip — a Git commit, a fetch of it, a process spawn — timed in the same run.
//!
//! 1. **Baseline**: ORDERS times in this process, with libgit2 as the domain and the sites use it:
//!    commit one small file into a bare repository (blob, tree, commit, branch update), fetch the
//!    branch into a second bare repository (a local path, as the dev federation's remotes are),
//!    then spawn `/bin/sh -c :` and wait for it. The sum is the floor of one change reaching one
//!    site.
//! 2. **With commit notices** (the default): the dev federation (maestro, DOMAINS × SITES_PER_DOMAIN
//!    sites, mutual TLS on every hop; sites poll Git every 30 s while notices arrive). The
//!    `demo-app` service (one `/bin/sh` per site) is added once, then modified ORDERS times (a new
//!    message, so every site restarts its process). Each modify is timed from `CreateOrder` to the
//!    first `WatchOrder` event where every site runs the new generation, ready (its process
//!    running, as the sites report it), and to `completed`.
//! 3. **Polling only**: the same with commit notices off and sites polling Git every SYNC_MS
//!    (500 ms, the dev federation's interval without notices): what the poll interval costs.
//!
//! Prints each part's median, P90 and max, and the ratio of the median `completed` to the
//! baseline's median (target ≤ 1.5×).
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-e2e [ORDERS [DOMAINS SITES_PER_DOMAIN
//! [SYNC_MS]]]` (default 20 1 2 500). A smoke run: `bench-e2e 2 1 1`. With `RUST_LOG` set, the
//! components' logs go to standard output.

use anyhow::{Context, bail, ensure};
use git2::{FetchOptions, Repository, Signature};
use maestro_cli::client::MaestroClient;
use maestro_cli::dev::{DevOptions, Federation, start_federation, wait_for_domains};
use maestro_proto::order::v1::{ItemAction, OrderState, ServiceOrder, WatchOrderRequest};
use maestro_tests::orders;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

const SERVICE: &str = "e2e-bench";
/// Bound on the domains registering and on each order.
const DEADLINE: Duration = Duration::from_secs(120);

/// What the command line asks.
struct Args {
    orders: usize,
    domains: usize,
    sites_per_domain: usize,
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
            "usage: bench-e2e [ORDERS [DOMAINS SITES_PER_DOMAIN [SYNC_MS]]]"
        );
        let a = Args {
            orders: usize::try_from(args.first().copied().unwrap_or(20))?,
            domains: usize::try_from(args.get(1).copied().unwrap_or(1))?,
            sites_per_domain: usize::try_from(args.get(2).copied().unwrap_or(2))?,
            sync_ms: args.get(3).copied().unwrap_or(500),
        };
        ensure!(
            a.orders >= 1 && a.domains >= 1 && a.sites_per_domain >= 1,
            "ORDERS, DOMAINS and SITES_PER_DOMAIN must be at least 1"
        );
        Ok(a)
    }
}

/// Median, P90 and max of some samples.
struct Spread {
    median: Duration,
    p90: Duration,
    max: Duration,
}

impl Spread {
    fn of(samples: &[Duration]) -> Self {
        let mut s = samples.to_vec();
        s.sort();
        let at = |p: f64| s[(((s.len() - 1) as f64) * p).round() as usize];
        Spread {
            median: at(0.5),
            p90: at(0.9),
            max: s[s.len() - 1],
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {} · p90 {} · max {}",
            ms(self.median),
            ms(self.p90),
            ms(self.max)
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The baseline's three parts, one sample each.
fn baseline_once(dir: &Path, n: usize) -> anyhow::Result<[Duration; 3]> {
    let remote = Repository::open_bare(dir.join("remote.git"))?;
    let t0 = Instant::now();
    let blob = remote.blob(format!("{{\"message\":\"change {n}\"}}\n").as_bytes())?;
    let mut site = remote.treebuilder(None)?;
    site.insert("demo.json", blob, git2::FileMode::Blob.into())?;
    let site = site.write()?;
    let mut root = remote.treebuilder(None)?;
    root.insert("sites", site, git2::FileMode::Tree.into())?;
    let tree = remote.find_tree(root.write()?)?;
    let parent = remote
        .refname_to_id("refs/heads/main")
        .ok()
        .map(|id| remote.find_commit(id))
        .transpose()?;
    let sig = Signature::now("bench", "bench@localhost")?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    remote.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        &format!("change {n}"),
        &tree,
        &parents,
    )?;
    let commit = t0.elapsed();

    let t1 = Instant::now();
    let mirror = Repository::open_bare(dir.join("mirror.git"))?;
    let url = dir.join("remote.git").display().to_string();
    let mut origin = mirror.remote_anonymous(&url)?;
    origin.fetch(
        &["+refs/heads/main:refs/remotes/origin/main"],
        Some(&mut FetchOptions::new()),
        None,
    )?;
    let fetch = t1.elapsed();

    let t2 = Instant::now();
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", ":"])
        .status()?;
    ensure!(status.success(), "/bin/sh -c : exited {status}");
    let spawn = t2.elapsed();
    Ok([commit, fetch, spawn])
}

/// One durable write as every tier makes them (a sled insert and flush), `samples` times: not
/// part of the baseline, printed to explain the difference.
fn durable_write(samples: usize) -> anyhow::Result<Spread> {
    let dir = tempfile::tempdir()?;
    let db = sled::open(dir.path().join("db"))?;
    let mut times = Vec::new();
    for n in 0..samples.max(5) {
        let t0 = Instant::now();
        db.insert(format!("k{n}"), vec![7u8; 512])?;
        db.flush()?;
        times.push(t0.elapsed());
    }
    Ok(Spread::of(&times))
}

/// Commit + fetch + spawn, `samples` times; the medians of each part and of the sum.
fn baseline(samples: usize) -> anyhow::Result<(Spread, [Duration; 3])> {
    let dir = tempfile::tempdir()?;
    Repository::init_bare(dir.path().join("remote.git"))?;
    Repository::init_bare(dir.path().join("mirror.git"))?;
    baseline_once(dir.path(), 0)?; // warm-up: the first commit and fetch create the refs
    let mut parts: [Vec<Duration>; 3] = Default::default();
    let mut sums = Vec::new();
    for n in 1..=samples.max(5) {
        let s = baseline_once(dir.path(), n)?;
        for (all, one) in parts.iter_mut().zip(s) {
            all.push(one);
        }
        sums.push(s.iter().sum());
    }
    let medians = parts.map(|p| Spread::of(&p).median);
    Ok((Spread::of(&sums), medians))
}

/// True when every site of every domain of the only item runs generation ready.
fn every_site_runs_it(order: &ServiceOrder, sites: usize) -> bool {
    let Some(item) = order.items.first() else {
        return false;
    };
    let runs: usize = item
        .domains
        .iter()
        .map(|d| {
            d.sites
                .iter()
                .filter(|s| {
                    s.observed_generation == d.generation && s.total > 0 && s.ready == s.total
                })
                .count()
        })
        .sum();
    runs == sites
}

/// Creates one order and follows it: (created -> every site runs it, created -> completed).
async fn time_order(
    client: &MaestroClient,
    key: &str,
    action: ItemAction,
    message: &str,
    domains: &[&str],
    sites: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let spec = orders::demo_order(action, SERVICE, message, 1, domains);
    let t0 = Instant::now();
    let order = orders::create(&mut client.orders(), key, spec).await?;
    let mut stream = client
        .orders()
        .watch_order(WatchOrderRequest {
            id: order.id.clone(),
        })
        .await
        .context("WatchOrder")?
        .into_inner();
    let mut running = None;
    let follow = async {
        while let Some(event) = stream.next().await {
            let Some(order) = event.context("WatchOrder stream")?.order else {
                continue;
            };
            let at = t0.elapsed();
            if running.is_none() && every_site_runs_it(&order, sites) {
                running = Some(at);
            }
            match order.state() {
                OrderState::Completed => return Ok(at),
                s if orders::is_final(s) => bail!("order {} ended {s:?}", order.id),
                _ => {}
            }
        }
        bail!("the WatchOrder stream ended")
    };
    let completed = tokio::time::timeout(DEADLINE, follow)
        .await
        .with_context(|| format!("order {key} not completed within {DEADLINE:?}"))??;
    Ok((running.unwrap_or(completed), completed))
}

/// Adds the service once, then modifies it `args.orders` times: the spreads of (running,
/// completed).
async fn measure(fed: &Federation, args: &Args, mode: &str) -> anyhow::Result<(Spread, Spread)> {
    let client = MaestroClient::new(&fed.client_settings())?;
    let ids: Vec<String> = fed.domains.iter().map(|d| d.id.clone()).collect();
    let domains: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_for_domains(&client, &ids, Instant::now() + DEADLINE).await?;
    let sites = args.domains * args.sites_per_domain;
    time_order(
        &client,
        &format!("{mode}-add"),
        ItemAction::Add,
        "v0",
        &domains,
        sites,
    )
    .await?;
    let (mut running, mut completed) = (Vec::new(), Vec::new());
    for n in 1..=args.orders {
        let (r, c) = time_order(
            &client,
            &format!("{mode}-{n}"),
            ItemAction::Modify,
            &format!("v{n}"),
            &domains,
            sites,
        )
        .await?;
        running.push(r);
        completed.push(c);
    }
    Ok((Spread::of(&running), Spread::of(&completed)))
}

/// Starts a federation with `opts`, measures, and stops it (also after an error or a signal).
async fn with_federation(
    opts: DevOptions,
    args: &Args,
    mode: &str,
) -> anyhow::Result<(Spread, Spread)> {
    let signals = maestro_common::shutdown::on_signals();
    let mut fed = start_federation(opts, CancellationToken::new())
        .await
        .context("starting the federation")?;
    let result = tokio::select! {
        r = measure(&fed, args, mode) => r,
        () = signals.cancelled() => Err(anyhow::anyhow!("interrupted")),
    };
    let report = fed.stop().await;
    if !report.timed_out.is_empty() || !report.failed.is_empty() {
        eprintln!("warning: stopping the federation: {report:?}");
    }
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-e2e.rs"));
    let args = Args::parse()?;
    if std::env::var_os("RUST_LOG").is_some() {
        maestro_testkit::tracing::init("warn");
    }
    let sites = args.domains * args.sites_per_domain;
    println!(
        "bench-e2e: {} modify orders, {} domains × {} sites ({sites} sites), mutual TLS",
        args.orders, args.domains, args.sites_per_domain
    );
    let (floor, [commit, fetch, spawn]) =
        tokio::task::spawn_blocking(move || baseline(args.orders.max(20))).await??;
    println!(
        "baseline  git commit + fetch + process spawn: {floor} (parts' medians: commit {}, fetch {}, spawn {})",
        ms(commit),
        ms(fetch),
        ms(spawn)
    );
    let flush = tokio::task::spawn_blocking(move || durable_write(args.orders.max(20))).await??;
    println!(
        "for reference (not in the baseline): one durable write (sled insert + flush): {flush}"
    );

    let mut results = Vec::new();
    for (mode, notices) in [("notices", true), ("polling", false)] {
        let dir = tempfile::Builder::new().prefix("bench-e2e-").tempdir()?;
        let opts = DevOptions {
            domains: args.domains,
            sites_per_domain: args.sites_per_domain,
            sync_interval_ms: args.sync_ms,
            commit_notices: notices,
            ..DevOptions::new(dir.path())
        };
        let (running, completed) = with_federation(opts, &args, mode).await?;
        let label = if notices {
            "with commit notices".to_string()
        } else {
            format!("polling Git every {} ms, no notices", args.sync_ms)
        };
        println!("{label}:");
        println!("  created -> every site runs it: {running}");
        println!(
            "  created -> completed:          {completed}   ratio to the baseline {:.1}× (target ≤ 1.5×)",
            completed.median.as_secs_f64() / floor.median.as_secs_f64()
        );
        results.push(completed.median);
    }
    if let [noticed, polled] = results[..] {
        println!(
            "the poll interval costs {} at the median ({} with notices, {} polling)",
            ms(polled.saturating_sub(noticed)),
            ms(noticed),
            ms(polled)
        );
    }
    Ok(())
}
