//! `bench-idle`: what idle sites and domains cost in CPU, and how long an order takes to reach
//! every site as the federation grows.
//!
//! - **In one process** (default): the dev federation of `maestroctl dev` in this process
//!   (maestro; per domain a log server, a domain orchestrator and a bare Git repository; per site
//!   a site agent with its embedded colony and the process reconciler; mutual TLS on every hop),
//!   DOMAINS × SITES_PER_DOMAIN sites, no order: after `--settle-s` seconds (35 by default, past
//!   the sites' start-up), the process's CPU time (utime + stime) over SECONDS, per site and per
//!   domain.
//! - `--breakdown`: the same measured four times, each in a fresh federation, turning one more
//!   periodic task down to once an hour: nothing (the `dev` intervals), the sites' Git fetch,
//!   the sites' heartbeats, the domains' heartbeats to maestro. The differences are what each
//!   costs; what is left is the floor (colony and reconciler loops, liveness timers, keep-alives).
//!   The ratio printed is each configuration's CPU to the floor's.
//! - `--processes N`: N `maestro-site` processes (separate, the release binary as
//!   `bench-site-footprint` finds it) of one domain whose log server, orchestrator and maestro
//!   run in this process, the sites fetching the domain's repository from disk; the CPU of each
//!   site process and of this process (the domain) over SECONDS.
//! - `--converge`: after the idle window, an order adds `demo-app` (one `/bin/sh`) on every site
//!   and is timed from `CreateOrder` to `completed` on `WatchOrder`; with `--baseline DxS`, the
//!   same is timed first on a federation of D × S sites, and the ratio printed. `--services N`
//!   places N services so (one order each, the first one timed). Then the CPU is measured again
//!   as above, idle with the services on every site. For the timed order it also prints how it
//!   spread: when every domain acknowledged it, when each share of the sites ran it as maestro
//!   showed it and as the sites observed it, and per domain how long the status took from its
//!   last site to the domain and from the domain to maestro.
//! - `--stalled crash|unready` (with `--converge`): then one more service on every site that
//!   never converges, and the CPU measured again: what a service broken at every site costs while
//!   it stays broken. `crash`: its process exits at once, and the site restarts it with the
//!   crash-loop back-off; `unready`: its process runs but never passes its health check (a TCP
//!   port nothing listens on), so each start fails after its 30 s and the next one is tried.
//!
//! Sites start their processes through one launch helper, as in `maestroctl dev`;
//! `--direct-spawn` has each site spawn them itself (in this one process, whose descriptors the
//! kernel copies and walks at every spawn).
//!
//! Intervals (milliseconds; the `dev` ones by default): `--sync-ms` (sites' Git fetch, 500),
//! `--heartbeat-ms` (sites' heartbeat, 2000), `--domain-heartbeat-ms` (domains to maestro, 2000),
//! `--colony-reconcile-ms` (with `--processes` only: the colony's full re-check, 60000).
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-idle [DOMAINS SITES_PER_DOMAIN
//! [SECONDS]] [--settle-s N] [--breakdown] [--processes N] [--converge [--services N]
//! [--baseline DxS] [--stalled crash|unready]] [--direct-spawn]
//! [--sync-ms N] [--heartbeat-ms N] [--domain-heartbeat-ms N] [--colony-reconcile-ms N]`
//! (default 16 4 20). E.g. `bench-idle 64 4 20 --breakdown`, `bench-idle 256 4 20 --converge
//! --baseline 64x4`, `bench-idle 1 4 60 --processes 4`. A smoke run: `bench-idle 1 2 1
//! --settle-s 1 --converge`.

use anyhow::{Context, anyhow, bail, ensure};
use maestro_cli::client::MaestroClient;
use maestro_cli::dev::{DevOptions, Federation, start_federation, wait_for_domains};
use maestro_proto::order::v1::{
    DeliveryState, DomainProgress, ItemAction, OrderState, ServiceOrder, WatchOrderRequest,
};
use maestro_tests::orders;
use maestro_tests::sitebench::{BenchDomain, proc_usage, site_node};
use site_agent::HelperCommand;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

/// Bound on the domains registering and on an order completing.
const DEADLINE: Duration = Duration::from_secs(900);
/// Once an hour: a periodic task turned down.
const HOURLY: u64 = 3_600_000;
const SERVICE: &str = "idle-bench";
/// How the `--stalled` service never converges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Its process exits at once (a wrong command or configuration).
    Crash,
    /// Its process runs, but its health check never passes (a wrong port).
    Unready,
}

impl Stall {
    /// The catalog entry of the service: one process per site.
    fn spec(self) -> String {
        let process = match self {
            Stall::Crash => "command: /bin/false",
            Stall::Unready => {
                "command: /bin/sleep\n      args: [\"86400\"]\n      healthCheck: { tcp: { port: 9 } }"
            }
        };
        format!(
            "id: stalled-app\nname: Stalled app\nversion: \"1.0\"\ndescription: One process per site that never converges.\nblueprints:\n  - kind: ProcessDeployment\n    metadata: {{ name: \"${{service}}\" }}\n    spec:\n      {process}\n      replicas: 1\n"
        )
    }
}
/// Default wait before measuring, past the sites' start-up (their first sync and reports). It was
/// chosen when a site's status reporter still polled its colony every second for 30 s after
/// every wake-up, and is kept so that figures compare with earlier rounds.
const SETTLE_S: u64 = 35;

#[derive(Clone)]
/// How the federation runs: its intervals, and how its sites start processes.
struct FedSettings {
    sync_ms: u64,
    heartbeat_ms: u64,
    domain_heartbeat_ms: u64,
    colony_reconcile_ms: u64,
    /// Each site spawns its processes itself instead of through `dev`'s launch helper.
    direct_spawn: bool,
}

struct Args {
    domains: usize,
    sites_per_domain: usize,
    seconds: u64,
    settle_s: u64,
    breakdown: bool,
    processes: Option<usize>,
    converge: bool,
    /// Services placed on every site by `--converge` (one order each; the first is timed).
    services: usize,
    baseline: Option<(usize, usize)>,
    /// With `--converge`: a service that never converges placed on every site afterwards.
    stalled: Option<Stall>,
    intervals: FedSettings,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let dev = DevOptions::new("");
        let mut a = Args {
            domains: 16,
            sites_per_domain: 4,
            seconds: 20,
            settle_s: SETTLE_S,
            breakdown: false,
            processes: None,
            converge: false,
            services: 1,
            baseline: None,
            stalled: None,
            intervals: FedSettings {
                sync_ms: dev.sync_interval_ms,
                heartbeat_ms: dev.site_heartbeat_interval_ms,
                domain_heartbeat_ms: dev.domain_heartbeat_interval_ms,
                colony_reconcile_ms: 60_000,
                direct_spawn: false,
            },
        };
        let mut positional = Vec::new();
        let mut it = std::env::args().skip(1);
        let number = |flag: &str, v: Option<String>| -> anyhow::Result<u64> {
            let v = v.with_context(|| format!("{flag} needs a value"))?;
            v.parse()
                .with_context(|| format!("{flag} {v:?} is not a number"))
        };
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--breakdown" => a.breakdown = true,
                "--converge" => a.converge = true,
                "--stalled" => {
                    a.stalled = Some(match it.next().as_deref() {
                        Some("crash") => Stall::Crash,
                        Some("unready") => Stall::Unready,
                        other => bail!("--stalled takes crash or unready, not {other:?}"),
                    });
                }
                "--direct-spawn" => a.intervals.direct_spawn = true,
                "--services" => a.services = usize::try_from(number(&arg, it.next())?)?,
                "--processes" => a.processes = Some(usize::try_from(number(&arg, it.next())?)?),
                "--settle-s" => a.settle_s = number(&arg, it.next())?,
                "--sync-ms" => a.intervals.sync_ms = number(&arg, it.next())?,
                "--heartbeat-ms" => a.intervals.heartbeat_ms = number(&arg, it.next())?,
                "--domain-heartbeat-ms" => {
                    a.intervals.domain_heartbeat_ms = number(&arg, it.next())?;
                }
                "--colony-reconcile-ms" => {
                    a.intervals.colony_reconcile_ms = number(&arg, it.next())?;
                }
                "--baseline" => {
                    let v = it.next().context("--baseline needs DxS")?;
                    let (d, s) = v
                        .split_once('x')
                        .context("--baseline takes DxS, e.g. 64x4")?;
                    a.baseline = Some((d.parse()?, s.parse()?));
                }
                flag if flag.starts_with("--") => bail!("unknown option {flag}"),
                _ => positional.push(number("a position", Some(arg))?),
            }
        }
        ensure!(
            positional.len() <= 3,
            "usage: bench-idle [DOMAINS SITES_PER_DOMAIN [SECONDS]] [options]"
        );
        if let Some(d) = positional.first() {
            a.domains = usize::try_from(*d)?;
        }
        if let Some(s) = positional.get(1) {
            a.sites_per_domain = usize::try_from(*s)?;
        }
        if let Some(s) = positional.get(2) {
            a.seconds = *s;
        }
        ensure!(
            a.domains >= 1 && a.sites_per_domain >= 1 && a.seconds >= 1 && a.services >= 1,
            "DOMAINS, SITES_PER_DOMAIN, SECONDS and --services must be > 0"
        );
        ensure!(
            a.stalled.is_none() || a.converge,
            "--stalled needs --converge"
        );
        Ok(a)
    }
}

/// CPU seconds of this process so far.
fn own_cpu() -> anyhow::Result<f64> {
    Ok(proc_usage(0)?.cpu_secs)
}

/// One idle measurement of a federation in this process.
struct Idle {
    sites: usize,
    domains: usize,
    cpu: f64,
    secs: f64,
}

impl Idle {
    /// Cores busy on average.
    fn cores(&self) -> f64 {
        self.cpu / self.secs
    }

    /// Milliseconds of CPU per second per site.
    fn per_site_ms(&self) -> f64 {
        self.cores() * 1000.0 / self.sites as f64
    }

    fn print(&self, label: &str) {
        println!(
            "{label}: {:.2} s of CPU over {:.1} s = {:.3} cores; per site {:.2} ms/s ({:.3} % of one core); per domain (with its sites) {:.1} ms/s",
            self.cpu,
            self.secs,
            self.cores(),
            self.per_site_ms(),
            self.per_site_ms() / 10.0,
            self.cores() * 1000.0 / self.domains as f64
        );
    }
}

async fn start(
    dir: &Path,
    domains: usize,
    sites_per_domain: usize,
    iv: &FedSettings,
) -> anyhow::Result<(Federation, MaestroClient)> {
    let opts = DevOptions {
        domains,
        sites_per_domain,
        sync_interval_ms: iv.sync_ms,
        site_heartbeat_interval_ms: iv.heartbeat_ms,
        domain_heartbeat_interval_ms: iv.domain_heartbeat_ms,
        launch_helper: if iv.direct_spawn {
            None
        } else {
            Some(HelperCommand::this_executable()?)
        },
        ..DevOptions::new(dir)
    };
    let t0 = Instant::now();
    let fed = start_federation(opts, CancellationToken::new())
        .await
        .context("starting the federation")?;
    let client = MaestroClient::new(&fed.client_settings())?;
    let ids: Vec<String> = fed.domains.iter().map(|d| d.id.clone()).collect();
    if let Err(e) = wait_for_domains(&client, &ids, Instant::now() + DEADLINE).await {
        stop(fed).await;
        return Err(e.into());
    }
    println!(
        "federation of {domains} × {sites_per_domain} = {} sites started in {:.1} s (fetch every {} ms, site heartbeat {} ms, domain heartbeat {} ms; processes spawned {})",
        domains * sites_per_domain,
        t0.elapsed().as_secs_f64(),
        iv.sync_ms,
        iv.heartbeat_ms,
        iv.domain_heartbeat_ms,
        if iv.direct_spawn {
            "by each site"
        } else {
            "through the launch helper"
        }
    );
    Ok((fed, client))
}

async fn stop(mut fed: Federation) {
    let report = fed.stop().await;
    for p in report
        .workload_errors
        .iter()
        .chain(&report.timed_out)
        .chain(&report.failed)
    {
        eprintln!("warning: stopping: {p}");
    }
}

/// CPU of this process, running `domains` domains and `sites` sites, over `secs` after
/// `settle_s` (a measurement window: nothing is awaited).
async fn measure_idle(
    settle_s: u64,
    secs: u64,
    domains: usize,
    sites: usize,
) -> anyhow::Result<Idle> {
    tokio::time::sleep(Duration::from_secs(settle_s)).await;
    let (c0, t0) = (own_cpu()?, Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    Ok(Idle {
        sites,
        domains,
        cpu: own_cpu()? - c0,
        secs: t0.elapsed().as_secs_f64(),
    })
}

/// Follows order `id` on `WatchOrder` until `step` gives a value (or fails), for at most
/// [`DEADLINE`]; `late` says what did not happen in time.
async fn follow<T>(
    client: &MaestroClient,
    id: &str,
    late: &str,
    mut step: impl FnMut(&ServiceOrder) -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let watch = async {
        let mut stream = client
            .orders()
            .watch_order(WatchOrderRequest { id: id.to_string() })
            .await?
            .into_inner();
        while let Some(ev) = stream.next().await {
            let Some(o) = ev?.order else { continue };
            if let Some(v) = step(&o)? {
                return Ok(v);
            }
        }
        bail!("the WatchOrder stream ended")
    };
    tokio::time::timeout(DEADLINE, watch)
        .await
        .map_err(|_| anyhow!("{late} within {} s", DEADLINE.as_secs()))?
}

/// Times an order adding `demo-app` as `service` on every site, `CreateOrder` to `completed`.
async fn converge(
    fed: &Federation,
    client: &MaestroClient,
    key: &str,
    service: &str,
) -> anyhow::Result<Duration> {
    let ids: Vec<&str> = fed.domains.iter().map(|d| d.id.as_str()).collect();
    let t0 = Instant::now();
    let created_ms = maestro_common::time::now_millis();
    let spec = orders::demo_order(ItemAction::Add, service, "idle", 1, &ids);
    let order = orders::create(&mut client.orders(), key, spec).await?;
    let mut curve = Curve::starting(created_ms);
    follow(client, &order.id, "the order did not complete", |o| {
        curve.saw(o, t0.elapsed());
        match o.state() {
            OrderState::Completed => {
                let took = t0.elapsed();
                curve.print(o);
                Ok(Some(took))
            }
            s if orders::is_final(s) => bail!("the order ended {s:?}"),
            _ => Ok(None),
        }
    })
    .await
}

/// Places the `--stalled` service on every site: `CreateOrder`, then until every site reports
/// its blueprint (which never converges, so neither does the order); returns the order's id.
async fn place_stalled(
    fed: &Federation,
    client: &MaestroClient,
    key: &str,
    sites: usize,
) -> anyhow::Result<String> {
    let ids: Vec<&str> = fed.domains.iter().map(|d| d.id.as_str()).collect();
    let spec = orders::service_order("stalled-app", ItemAction::Add, "stalled", &[], &ids);
    let order = orders::create(&mut client.orders(), key, spec).await?;
    let t0 = Instant::now();
    let late = "the never-converging service was not reported by every site";
    follow(client, &order.id, late, |o| {
        let reported = o
            .items
            .iter()
            .flat_map(|i| i.domains.iter())
            .flat_map(|d| d.sites.iter())
            .filter(|s| s.total > 0)
            .count();
        if reported >= sites {
            println!(
                "the never-converging service reported by all {sites} sites {:.2} s after its order ({:?})",
                t0.elapsed().as_secs_f64(),
                o.state()
            );
            return Ok(Some(o.id.clone()));
        }
        if orders::is_final(o.state()) {
            bail!("the order of the never-converging service ended {:?}", o.state());
        }
        Ok(None)
    })
    .await
}

/// How an order spread over time, from its `WatchOrder` events: when each share of the sites
/// first ran it as maestro saw it (ready), and when every domain had acknowledged it; at the end,
/// when the sites themselves observed it running (each site's `observed_at`, the same machine's
/// clock). A steady climb says the order is bound by throughput; a plateau and a late jump, by a
/// wait; sites running long before maestro saw it, by the way back.
struct Curve {
    /// Wall-clock milliseconds when the order was created.
    created_ms: i64,
    /// `(elapsed, sites ready, sites in all)` at each event that moved the count.
    points: Vec<(Duration, u64, u64)>,
    acknowledged: Option<Duration>,
    /// When maestro first showed each domain with all of its sites ready.
    domain_ready: HashMap<String, Duration>,
}

impl Curve {
    const SHARES: [u64; 7] = [1, 10, 25, 50, 75, 90, 99];

    fn starting(created_ms: i64) -> Self {
        Self {
            created_ms,
            points: Vec::new(),
            acknowledged: None,
            domain_ready: HashMap::new(),
        }
    }

    /// Seconds after the order's creation of a wall-clock timestamp.
    fn since_created(&self, at: &maestro_proto::prost_types::Timestamp) -> f64 {
        (maestro_common::time::millis(Some(at)) - self.created_ms) as f64 / 1000.0
    }

    /// When each site of `dp` observed the status it last reported, in seconds after creation.
    fn sites_observed<'a>(&'a self, dp: &'a DomainProgress) -> impl Iterator<Item = f64> + 'a {
        dp.sites
            .iter()
            .filter_map(|s| s.observed_at.as_ref())
            .map(|t| self.since_created(t))
    }

    /// For each domain of `order`, in seconds: from its last site observing the order running to
    /// the domain publishing the status that says so (`last_heard`, when the domain stamped it),
    /// and from there to maestro showing it.
    fn way_back(&self, order: &ServiceOrder) -> (Vec<f64>, Vec<f64>) {
        let (mut to_domain, mut to_maestro) = (Vec::new(), Vec::new());
        for dp in order.items.iter().flat_map(|i| i.domains.iter()) {
            let site_last = self.sites_observed(dp).fold(f64::NEG_INFINITY, f64::max);
            let (Some(heard), Some(seen)) =
                (dp.last_heard.as_ref(), self.domain_ready.get(&dp.domain))
            else {
                continue;
            };
            let domain_at = self.since_created(heard);
            if site_last.is_finite() {
                to_domain.push(domain_at - site_last);
            }
            to_maestro.push(seen.as_secs_f64() - domain_at);
        }
        to_domain.sort_by(f64::total_cmp);
        to_maestro.sort_by(f64::total_cmp);
        (to_domain, to_maestro)
    }

    /// When the sites of `order` observed the status they last reported, in seconds after the
    /// order was created, earliest first.
    fn observed(&self, order: &ServiceOrder) -> Vec<f64> {
        let mut at: Vec<f64> = order
            .items
            .iter()
            .flat_map(|i| i.domains.iter())
            .flat_map(|d| self.sites_observed(d))
            .collect();
        at.sort_by(f64::total_cmp);
        at
    }

    fn saw(&mut self, order: &ServiceOrder, at: Duration) {
        let domains = order.items.iter().flat_map(|i| i.domains.iter());
        let (mut ready, mut total, mut pending) = (0u64, 0u64, 0usize);
        for dp in domains {
            if dp.total > 0 && dp.ready == dp.total && !self.domain_ready.contains_key(&dp.domain) {
                self.domain_ready.insert(dp.domain.clone(), at);
            }
            ready += u64::from(dp.ready);
            total += u64::from(dp.total);
            pending += usize::from(dp.delivery() != DeliveryState::Acknowledged);
        }
        if pending == 0 && self.acknowledged.is_none() {
            self.acknowledged = Some(at);
        }
        if self
            .points
            .last()
            .is_none_or(|&(_, r, t)| (r, t) != (ready, total))
        {
            self.points.push((at, ready, total));
        }
    }

    /// When `share` % of the sites first ran the order.
    fn at_share(&self, share: u64) -> Option<Duration> {
        self.points
            .iter()
            .find(|&&(_, ready, total)| total > 0 && ready * 100 >= share * total)
            .map(|&(at, _, _)| at)
    }

    fn print(&self, last: &ServiceOrder) {
        let secs = |d: Option<Duration>| {
            d.map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        };
        let shares: Vec<String> = Self::SHARES
            .iter()
            .map(|&s| format!("{s} % {}", secs(self.at_share(s))))
            .collect();
        println!(
            "  every domain acknowledged at {}; sites running it: {}, 100 % {} ({} events moved the count)",
            secs(self.acknowledged),
            shares.join(", "),
            secs(self.at_share(100)),
            self.points.len()
        );
        let observed = self.observed(last);
        if let (Some(first), Some(end)) = (observed.first(), observed.last()) {
            println!(
                "  the sites observed it running: first {first:.2} s, 50 % {:.2} s, 90 % {:.2} s, last {end:.2} s after creation ({} sites)",
                share(&observed, 50),
                share(&observed, 90),
                observed.len()
            );
        }
        let (to_domain, to_maestro) = self.way_back(last);
        let spread = |v: &[f64]| match v.last() {
            None => "-".to_string(),
            Some(max) => format!(
                "median {:.2} s, 90 % {:.2} s, max {max:.2} s",
                share(v, 50),
                share(v, 90)
            ),
        };
        println!(
            "  the way back, per domain: its last site running -> the domain's status {}; -> maestro showed it {}",
            spread(&to_domain),
            spread(&to_maestro)
        );
    }
}

/// The value at `percent` % of `sorted` (not empty), rounded down to an element.
fn share(sorted: &[f64], percent: usize) -> f64 {
    sorted[(sorted.len() - 1) * percent / 100]
}

/// A federation, idle, then optionally an order to every site.
async fn in_process(
    args: &Args,
    domains: usize,
    spd: usize,
    iv: &FedSettings,
    order: bool,
) -> anyhow::Result<(Idle, Option<Duration>)> {
    let dir = tempfile::Builder::new().prefix("bench-idle-").tempdir()?;
    if let Some(stall) = args.stalled {
        // Beside the default catalog, which the federation writes around it.
        let catalog = dir.path().join("catalog");
        std::fs::create_dir_all(&catalog)?;
        std::fs::write(catalog.join("stalled-app.yaml"), stall.spec())?;
    }
    let (fed, client) = start(dir.path(), domains, spd, iv).await?;
    let run = async {
        let sites = domains * spd;
        let idle = measure_idle(args.settle_s, args.seconds, domains, sites).await?;
        let took = if order {
            let cpu0 = own_cpu()?;
            let key = format!("idle-{domains}x{spd}");
            let took = converge(&fed, &client, &key, SERVICE).await?;
            // The whole process's CPU while the order converged, less what idling would have
            // cost over the same time: what one site's convergence costs, end to end.
            let spent = own_cpu()? - cpu0;
            let per_site =
                (spent - idle.cpu / idle.secs * took.as_secs_f64()).max(0.0) / sites as f64;
            println!(
                "order to every site ({sites} sites): created -> completed in {:.2} s, {spent:.2} s of CPU ({:.2} cores), {:.1} ms of CPU per site above idle",
                took.as_secs_f64(),
                spent / took.as_secs_f64().max(1e-9),
                per_site * 1000.0
            );
            for n in 2..=args.services {
                let service = format!("{SERVICE}-{n}");
                converge(&fed, &client, &format!("{key}-{n}"), &service).await?;
            }
            // Idle again, now that every site runs the services: what its heartbeats and the
            // statuses they keep up to date cost.
            let after = measure_idle(args.settle_s, args.seconds, domains, sites).await?;
            after.print(&format!(
                "{domains} × {spd} idle with {} service(s) on every site",
                args.services
            ));
            if let Some(stall) = args.stalled {
                let id = place_stalled(&fed, &client, &format!("{key}-stalled"), sites).await?;
                let revision =
                    || async { anyhow::Ok(orders::get(&mut client.orders(), &id).await?.revision) };
                // Measured from the end of the settling, as the window is.
                tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
                let first = revision().await?;
                let stalled = measure_idle(0, args.seconds, domains, sites).await?;
                let last = revision().await?;
                stalled.print(&format!(
                    "{domains} × {spd} with a never-converging service ({stall:?}) beside the {} on every site",
                    args.services
                ));
                println!(
                    "  its order was written {} times in the window ({:.1} revisions per minute)",
                    last - first,
                    (last - first) as f64 * 60.0 / stalled.secs
                );
            }
            Some(took)
        } else {
            None
        };
        anyhow::Ok((idle, took))
    };
    let result = run.await;
    stop(fed).await;
    result
}

/// Separate site processes of one domain.
async fn processes(args: &Args, n: usize) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("bench-idle-").tempdir()?;
    let stop_token = CancellationToken::new();
    let sites: Vec<String> = (1..=n).map(|i| format!("bench-{i}")).collect();
    let repo = dir.path().join("remote.git");
    let domain = BenchDomain::start(
        &dir.path().join("domain"),
        "bench",
        &sites,
        &repo,
        true,
        &stop_token,
    )
    .await?;
    let iv = &args.intervals;
    let mut nodes = Vec::new();
    let mut data_dirs = Vec::new();
    let result = async {
        for s in &sites {
            let site_dir = dir.path().join(s);
            let data = site_dir.join("data");
            let mut config = domain.site_config(
                s,
                &data,
                &repo.display().to_string(),
                serde_json::json!({}),
                &format!("https://{}", domain.log_addr),
            )?;
            config["sync_interval_ms"] = iv.sync_ms.into();
            config["heartbeat_interval_ms"] = iv.heartbeat_ms.into();
            config["colony_reconcile_interval_ms"] = iv.colony_reconcile_ms.into();
            let mut node = site_node(&format!("site {s}"), &site_dir, &config)?;
            node.start()?;
            nodes.push(node);
            data_dirs.push(data);
        }
        println!(
            "{n} site processes (fetch every {} ms, heartbeat {} ms, colony re-check {} ms) and one domain in this process",
            iv.sync_ms, iv.heartbeat_ms, iv.colony_reconcile_ms
        );
        if args.converge {
            let took = domain.place(SERVICE, DEADLINE).await?;
            println!(
                "order to every site ({n} processes): created -> completed in {:.2} s",
                took.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
        let pids: Vec<u32> = nodes.iter().filter_map(|n| n.pid()).collect();
        let before: Vec<f64> = pids
            .iter()
            .map(|p| proc_usage(*p).map(|u| u.cpu_secs))
            .collect::<Result<_, _>>()?;
        let (own0, t0) = (own_cpu()?, Instant::now());
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let secs = t0.elapsed().as_secs_f64();
        let own = own_cpu()? - own0;
        let mut per_site = Vec::new();
        for (p, b) in pids.iter().zip(&before) {
            let u = proc_usage(*p)?;
            per_site.push((u.cpu_secs - b) / secs * 1000.0);
            println!(
                "  site pid {p}: {:.2} ms CPU per s, RSS {:.1} MiB, {} threads",
                (u.cpu_secs - b) / secs * 1000.0,
                u.rss as f64 / 1048576.0,
                u.threads
            );
        }
        let mean = per_site.iter().sum::<f64>() / per_site.len().max(1) as f64;
        println!(
            "idle over {secs:.1} s: per site process {mean:.2} ms CPU per s ({:.3} % of one core); the domain (log server, orchestrator, maestro) {:.2} ms CPU per s",
            mean / 10.0,
            own / secs * 1000.0
        );
        anyhow::Ok(())
    }
    .await;
    for mut node in nodes {
        let _ = node.stop();
    }
    stop_token.cancel();
    for d in data_dirs {
        if d.exists() {
            let _ = site_agent::stop_all_instances(&d).await;
        }
    }
    result
}

fn main() -> anyhow::Result<()> {
    maestro_tests::usage::main_or_launch_helper(bench)
}

#[tokio::main]
async fn bench() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-idle.rs"));
    let args = Args::parse()?;
    let signals = maestro_common::shutdown::on_signals();
    tokio::select! {
        r = run(&args) => r,
        () = signals.cancelled() => Err(anyhow!("interrupted")),
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(n) = args.processes {
        return processes(args, n).await;
    }
    let (d, s) = (args.domains, args.sites_per_domain);
    if args.breakdown {
        let mut iv = args.intervals.clone();
        let mut steps = Vec::new();
        for (label, turn_down) in [
            ("as configured", None),
            ("site Git fetch hourly", Some(0)),
            ("+ site heartbeat hourly", Some(1)),
            ("+ domain heartbeat hourly (the floor)", Some(2)),
        ] {
            match turn_down {
                Some(0) => iv.sync_ms = HOURLY,
                Some(1) => iv.heartbeat_ms = HOURLY,
                Some(_) => iv.domain_heartbeat_ms = HOURLY,
                None => {}
            }
            let (idle, _) = in_process(args, d, s, &iv, false).await?;
            idle.print(label);
            steps.push((label, idle));
        }
        let floor = steps
            .last()
            .map_or(1e-9, |(_, i)| i.per_site_ms().max(1e-9));
        println!("breakdown (CPU per site, ms per s; ratio to the floor):");
        for w in steps.windows(2) {
            let ((label, a), (_, b)) = (&w[0], &w[1]);
            println!(
                "  {label}: {:.2} (ratio {:.2}); turning the next one down saved {:.2}",
                a.per_site_ms(),
                a.per_site_ms() / floor,
                a.per_site_ms() - b.per_site_ms()
            );
        }
        println!("  floor: {floor:.2}");
        return Ok(());
    }
    let base = match args.baseline.filter(|_| args.converge) {
        Some((bd, bs)) => {
            let (idle, took) = in_process(args, bd, bs, &args.intervals, true).await?;
            idle.print(&format!("baseline {bd} × {bs} idle"));
            took
        }
        None => None,
    };
    let (idle, took) = in_process(args, d, s, &args.intervals, args.converge).await?;
    idle.print(&format!("{d} × {s} idle"));
    if let (Some(b), Some(t)) = (base, took) {
        println!(
            "order to every site: {} sites {:.2} s, baseline {:.2} s: ratio {:.2} (target about 1)",
            d * s,
            t.as_secs_f64(),
            b.as_secs_f64(),
            t.as_secs_f64() / b.as_secs_f64()
        );
    }
    Ok(())
}
