//! `bench-status-scale`: a domain's status path with many sites pushing at once.
//!
//! SITES simulated sites push status and heartbeat records to a log server the way a site agent
//! does (its blueprint's status when it changes, a heartbeat per heartbeat interval, each site
//! over its own mutual-TLS connection with its own certificate, `domain/bench/site/site-N`), in
//! this process on loopback with the real gRPC stack and sled stores:
//!
//! 1. **baseline**: a log server with no subscriber, every site pushing as fast as it is
//!    acknowledged (one push in flight per site) for a third of SECONDS: the records per second
//!    the log server can ingest on this machine;
//! 2. **unloaded**: a second log server followed by a domain orchestrator (sites `site-1` ...
//!    `site-SITES`, at most 1,024: a domain holds no more; the other sites' records are followed
//!    all the same, but belong to no intent) reporting to a maestro, one order placing the
//!    `demo-app` service on every site of the domain; `site-1` alone pushes status changes
//!    (converged, then not, ...) and each is timed to
//!    the domain's `WatchIntentStatus` showing it and to maestro's `WatchOrder` showing it (as
//!    `bench-status-latency` does);
//! 3. **loaded**: the same while the other sites push at the heartbeat cadence (INTERVAL_MS,
//!    phases spread over the interval) for SECONDS: records per second ingested, and the same two
//!    latencies under that load (their P99 is the subscriber lag of the status path). The load
//!    sites report their blueprint converged once (the steady state), then heartbeat; the
//!    domain's last site never reports, so the order never completes.
//!
//! Prints the connection set-up (handshakes per second, memory per connection), the figures of
//! each phase, and the ratios: loaded ingest to the baseline capacity, loaded to unloaded P99.
//!
//! The load sites run in this process, or with `--sites-process` in a second process (this
//! program again, see `load_process`): a process holds at most its open-file limit of
//! descriptors, and with both ends of every connection here 10,000 sites do not fit a limit of
//! 20,000. The benchmark switches to a load process by itself when they would not fit.
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-status-scale [SITES [SECONDS
//! [INTERVAL_MS]]] [--sites-process]` (default 10000 30 10000: the site agent's default
//! heartbeat interval). A smoke run: `bench-status-scale 20 3 500`.

mod load_process;
mod load_sites;
mod probe;
mod sites;

use anyhow::{Context, ensure};
use load_process::Totals;
use load_sites::{Cadence, LoadSites};
use maestro_cli::client::MaestroClient;
use maestro_cli::dev::pki::DevTls;
use maestro_proto::order::v1::ItemAction;
use maestro_tests::orders;
use maestro_tests::sitebench::{mib, percentile, proc_usage, raise_open_files};
use probe::{arrival, print_probe, probe, watch_streams};
use sites::{connect, site_material};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "bench";
const PROBE: &str = "site-1";
const SERVICE: &str = "status-scale";
/// Bound on every wait (start, rendering, one probe sample).
const WAIT: Duration = Duration::from_secs(300);
/// Connections opened at once while the sites connect.
const CONNECTING: usize = 64;
/// Most sites a domain holds (maestro's registry and the domain's intents refuse more).
const MAX_DOMAIN_SITES: usize = 1024;
/// Probe samples without load.
const UNLOADED_SAMPLES: usize = 50;

struct Args {
    sites: usize,
    seconds: u64,
    interval_ms: u64,
    /// The load sites in a process of their own (`--sites-process`, or when both ends of every
    /// connection would not fit this process's open-file limit).
    separate: bool,
}

impl Args {
    fn parse(argv: &[String], separate: bool) -> anyhow::Result<Self> {
        let n: Vec<u64> = argv
            .iter()
            .map(|a| a.parse().with_context(|| format!("{a:?} is not a number")))
            .collect::<Result<_, _>>()?;
        ensure!(
            n.len() <= 3,
            "usage: bench-status-scale [SITES [SECONDS [INTERVAL_MS]]] [--sites-process]"
        );
        let a = Args {
            sites: usize::try_from(n.first().copied().unwrap_or(10_000))?,
            seconds: n.get(1).copied().unwrap_or(30),
            interval_ms: n.get(2).copied().unwrap_or(10_000),
            separate,
        };
        ensure!(
            a.sites >= 3,
            "SITES must be at least 3 (site-1 is the probe, the last one stays silent)"
        );
        ensure!(
            a.seconds >= 1 && a.interval_ms >= 1,
            "SECONDS and INTERVAL_MS must be > 0"
        );
        Ok(a)
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn site_name(i: usize) -> String {
    format!("site-{i}")
}

fn rate(records: u64, over: Duration) -> f64 {
    records as f64 / over.as_secs_f64().max(1e-9)
}

async fn start_log_server(
    dir: &Path,
    name: &str,
    pki: &DevTls,
    stop: &CancellationToken,
) -> anyhow::Result<log_server::Running> {
    let tls = pki
        .domains
        .get(DOMAIN)
        .context("domain certificate")?
        .clone();
    log_server::run(
        log_server::Config {
            listen: loopback(),
            data_dir: dir.join(name),
            domain: DOMAIN.into(),
            tls,
            ..Default::default()
        },
        stop.clone(),
    )
    .await
    .with_context(|| format!("log server {name}"))
}

fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("main.rs"));
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(load_process::FLAG) {
        let spec = argv.get(1).context("--load-process SPEC")?.clone();
        return runtime()?.block_on(load_process::serve(Path::new(&spec)));
    }
    let separate = argv.iter().any(|a| a == "--sites-process");
    argv.retain(|a| a != "--sites-process");
    let args = Args::parse(&argv, separate)?;
    runtime()?.block_on(bench(args))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn bench(mut args: Args) -> anyhow::Result<()> {
    // In this process each site holds two descriptors (both ends of its connection); with the
    // sites in a load process, one here and one there.
    let limit = raise_open_files(args.sites as u64 * 2 + 4096)?;
    if !args.separate && args.sites as u64 * 2 + 2048 > limit {
        args.separate = true;
        println!(
            "{} sites need about {} open files with both ends in this process, more than the limit ({limit}): the load sites run in a process of their own",
            args.sites,
            args.sites * 2 + 2048
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("bench-status-scale-")
        .tempdir()?;
    let shutdown = CancellationToken::new();
    let signals = maestro_common::shutdown::on_signals();
    let result = tokio::select! {
        r = run(&args, dir.path(), &shutdown, limit) => r,
        () = signals.cancelled() => Err(anyhow::anyhow!("interrupted")),
    };
    shutdown.cancel();
    result
}

/// Prints what connecting the load sites cost.
fn print_connected(phase: &str, c: &Totals, separate: bool) {
    let where_ = if separate {
        "in the load process"
    } else {
        "both ends in this process"
    };
    println!(
        "{phase}: {} mutual-TLS connections in {:.2} s ({:.0} handshakes/s), {} more resident memory ({:.1} KiB per connection, {where_})",
        c.connected,
        c.connect_secs,
        c.connected as f64 / c.connect_secs.max(1e-9),
        mib(c.connect_rss),
        c.connect_rss as f64 / 1024.0 / c.connected.max(1) as f64
    );
}

async fn run(
    args: &Args,
    dir: &Path,
    shutdown: &CancellationToken,
    open_files: u64,
) -> anyhow::Result<()> {
    let names: Vec<String> = (1..=args.sites).map(site_name).collect();
    let t0 = Instant::now();
    let pki = {
        let (dir, names) = (dir.to_path_buf(), names.clone());
        tokio::task::spawn_blocking(move || {
            let sites: Vec<(String, String)> =
                names.into_iter().map(|s| (DOMAIN.to_string(), s)).collect();
            maestro_cli::dev::pki::prepare(&dir, &[DOMAIN.to_string()], &sites)
        })
        .await??
    };
    let separate = args.separate.then_some(dir);
    println!(
        "{} sites, one certificate each (ECDSA P-256), issued in {:.1} s; open files limit {open_files}",
        args.sites,
        t0.elapsed().as_secs_f64()
    );

    // 1. Baseline: the log server alone.
    let base_stop = shutdown.child_token();
    let base = start_log_server(dir, "baseline-log-server", &pki, &base_stop).await?;
    let cadence = Cadence {
        order_id: String::new(),
        interval: None,
        span: Duration::from_secs(args.seconds.div_ceil(3).max(1)),
    };
    let url = format!("https://{}", base.addr);
    let (sites, connected) = LoadSites::connect(
        &url,
        &names,
        &pki,
        cadence,
        separate.map(|d| (d, "baseline")),
    )
    .await?;
    print_connected("baseline", &connected, args.separate);
    let cpu0 = proc_usage(0)?.cpu_secs;
    let totals = sites.start().await?.await??;
    let cpu = proc_usage(0)?.cpu_secs - cpu0 + totals.cpu_secs;
    let baseline = rate(totals.records, Duration::from_secs_f64(totals.took_secs));
    println!(
        "baseline: {} records in {} pushes ({} failed) in {:.1} s, back to back: {baseline:.0} records/s, no subscriber ({cpu:.1} s of CPU)",
        totals.records, totals.pushes, totals.failures, totals.took_secs,
    );
    base_stop.cancel();
    let _ = base.task.await;

    // 2. The status path: log server, domain, maestro; one order on every site of the domain
    // (a domain holds at most 1,024 sites; the records of the others are followed all the same
    // but belong to no intent).
    let in_domain = args.sites.min(MAX_DOMAIN_SITES);
    let logs = start_log_server(dir, "log-server", &pki, shutdown).await?;
    let log_url = format!("https://{}", logs.addr);
    let maestro = maestro::run(
        maestro::Config {
            listen: loopback(),
            data_dir: dir.join("maestro"),
            catalog_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/catalog"),
            tls: pki.maestro.clone(),
            operator_policy: Some(pki.policy.clone()),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .context("maestro")?;
    let maestro_url = format!("https://{}", maestro.addr);
    let domain = domain_orchestrator::run(
        domain_orchestrator::Config {
            domain: DOMAIN.into(),
            listen: loopback(),
            data_dir: dir.join("domain"),
            git_remote: dir.join("remote.git").display().to_string(),
            git_init_remote: true,
            sites: names[..in_domain].to_vec(),
            log_server: log_url.clone(),
            maestro: Some(maestro_url.clone()),
            tls: pki
                .domains
                .get(DOMAIN)
                .context("domain certificate")?
                .clone(),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .context("domain orchestrator")?;
    let client = MaestroClient::new(&maestro_cli::settings::Settings {
        maestro: maestro_url.clone(),
        tls: Some(pki.operator.clone()),
        ..Default::default()
    })?;
    maestro_cli::dev::wait_for_domains(&client, &[DOMAIN.to_string()], Instant::now() + WAIT)
        .await?;
    let t0 = Instant::now();
    let spec = orders::demo_order(ItemAction::Add, SERVICE, "scale", 1, &[DOMAIN]);
    let order = orders::create(&mut client.orders(), "status-scale-1", spec).await?;
    let mut streams = watch_streams(
        &format!("https://{}", domain.addr),
        &client,
        &pki,
        &order.id,
    )
    .await?;
    arrival(&mut streams.1, 0, "maestro's WatchOrder (rendering)").await?;
    println!(
        "order on the domain's {in_domain} sites rendered and shown on WatchOrder in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    // The probe and the silent site here; the domain's last site never reports, so the order
    // never completes and every probe sample changes the watched order (as in
    // `bench-status-latency`).
    let silent_name = site_name(in_domain);
    let own = [PROBE.to_string(), silent_name.clone()];
    let (mut own_sites, _) = connect(&log_url, &site_material(&pki, &own)?).await?;
    let _silent = own_sites.pop();
    let mut probe_site = own_sites.pop().context("the probe's connection")?;
    let others: Vec<String> = names
        .iter()
        .filter(|n| **n != PROBE && **n != silent_name)
        .cloned()
        .collect();
    let cadence = Cadence {
        order_id: order.id.clone(),
        interval: Some(Duration::from_millis(args.interval_ms)),
        span: Duration::from_secs(args.seconds),
    };
    let (sites, connected) = LoadSites::connect(
        &log_url,
        &others,
        &pki,
        cadence,
        separate.map(|d| (d, "loaded")),
    )
    .await?;
    print_connected("status path", &connected, args.separate);
    let unloaded = probe(
        &mut probe_site,
        &order.id,
        &mut streams,
        UNLOADED_SAMPLES,
        None,
    )
    .await?;
    println!("unloaded (only {PROBE} pushes):");
    print_probe("unloaded", &unloaded);

    // 3. Every other site at the heartbeat cadence, the probe meanwhile.
    let span = Duration::from_secs(args.seconds);
    let cpu0 = proc_usage(0)?.cpu_secs;
    let driving = sites.start().await?;
    let until = Instant::now() + span;
    let loaded = probe(
        &mut probe_site,
        &order.id,
        &mut streams,
        usize::MAX,
        Some(until),
    )
    .await?;
    let totals = driving.await??;
    let cpu = proc_usage(0)?.cpu_secs - cpu0 + totals.cpu_secs;
    let took = Duration::from_secs_f64(totals.took_secs);
    let offered = (args.sites - 2) as f64 * 1000.0 / args.interval_ms as f64;
    let ingested = rate(totals.records, took);
    println!(
        "loaded: {} other sites (one stays silent), a heartbeat each every {} ms after their status (offered {offered:.0} records/s): {} records in {} pushes ({} failed) in {:.1} s: {ingested:.0} records/s ingested ({cpu:.1} s of CPU, {:.0} % of 2 cores)",
        args.sites - 2,
        args.interval_ms,
        totals.records,
        totals.pushes,
        totals.failures,
        took.as_secs_f64(),
        cpu / took.as_secs_f64() / 2.0 * 100.0
    );
    print_probe("loaded", &loaded);
    let p99 = |v: &[Duration]| percentile(v, 0.99).as_secs_f64().max(1e-9);
    println!(
        "ratios: loaded ingest / baseline capacity {:.3}; p99 loaded / unloaded: domain {:.2}, WatchOrder {:.2}",
        ingested / baseline.max(1e-9),
        p99(&loaded.domain) / p99(&unloaded.domain),
        p99(&loaded.order) / p99(&unloaded.order),
    );
    let usage = proc_usage(0)?;
    println!(
        "process: peak RSS {}, {} threads",
        mib(usage.hwm),
        usage.threads
    );
    Ok(())
}
