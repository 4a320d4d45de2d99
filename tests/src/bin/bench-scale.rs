//! `bench-scale`: maestro's memory, CPU and watch latency as the federation grows.
//!
//! For each size of DOMAINS: runs maestro as its own process (`maestro-node run maestro`, the
//! binary next to this one, mutual TLS from the dev PKI) and that many domain orchestrators in
//! this process (each its real sled store, Git repository and gRPC API, the default heartbeat;
//! no sites, no log server), registered with it. From maestro's `/proc/<pid>/status` (`VmRSS`)
//! and `/proc/<pid>/stat` (`utime + stime`) it reads:
//!
//! - its memory alone, then with every domain registered, then with 10 intents per domain;
//! - its CPU over an idle window of IDLE seconds with the domains registered (heartbeats, the
//!   domains' status streams), and again once every domain holds its 10 intents;
//! - its CPU while 10 orders, each adding a service on every domain, are placed and every domain
//!   acknowledged them (per intent);
//!
//! then times a one-domain order (a new service on one domain, a different domain each time)
//! from `CreateOrder` to the `WatchOrder` event showing the domain's acknowledgement: how fast an
//! order's watcher hears of its progress while the whole federation is registered and loaded.
//! One row per size, with the per-domain figures, so growth faster than linear shows.
//!
//! Usage: `cargo build --release -p maestro-tests --bin maestro-node --bin bench-scale`, then
//! `target/release/bench-scale [DOMAINS...]` (default 10 100 1000); `BENCH_IDLE_SECS` sets
//! the idle window (default 10). With `BENCH_SILENT_SITE=1` every domain has one site that no
//! agent runs: the orders are acknowledged and then stay open (pending on the silent site), as
//! orders do while a site is offline; the idle window with the intents starts once every order
//! shows its site unreachable (the sites' threshold, 30 s) and measures what open orders cost
//! maestro. A smoke run: `bench-scale 2 3`.

use anyhow::{Context, ensure};
use maestro_tests::api::MaestroApi;
use maestro_tests::bench::{self, ProcUsage};
use maestro_tests::nodes::Node;
use maestro_tests::orders;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Services placed on every domain.
const SERVICES: usize = 10;
/// One-domain orders timed for the watch latency.
const WATCH_SAMPLES: usize = 20;
/// Bound on starting, registering and each order.
const WAIT: Duration = Duration::from_secs(600);

/// One row of the table.
struct Row {
    domains: usize,
    rss_alone: u64,
    rss_registered: u64,
    rss_intents: u64,
    idle_registered: Duration,
    idle_intents: Duration,
    orders_time: Duration,
    orders_cpu: Duration,
    watch_p50: Duration,
    watch_p99: Duration,
    idle_window: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-scale.rs"));
    let sizes: Vec<usize> = {
        let given: Vec<String> = std::env::args().skip(1).collect();
        if given.is_empty() {
            vec![10, 100, 1000]
        } else {
            given
                .iter()
                .map(|a| {
                    a.parse::<usize>()
                        .with_context(|| format!("{a:?}: usage: bench-scale [DOMAINS...]"))
                })
                .collect::<Result<_, _>>()?
        }
    };
    ensure!(
        sizes.iter().all(|s| *s >= 1),
        "every size must be at least 1"
    );
    let idle = match std::env::var("BENCH_IDLE_SECS") {
        Ok(s) => Duration::from_secs(s.parse().context("BENCH_IDLE_SECS")?),
        Err(_) => Duration::from_secs(10),
    };
    let sites: Vec<String> = match std::env::var("BENCH_SILENT_SITE").as_deref() {
        Ok("1") => vec!["silent-1".into()],
        Ok("0") | Err(_) => Vec::new(),
        Ok(other) => anyhow::bail!("BENCH_SILENT_SITE={other:?}: 1 or 0"),
    };
    let node = maestro_node()?;
    bench::raise_open_files()?;
    println!(
        "scale: one maestro process, DOMAINS domains in this process ({}) x {SERVICES} \
         intents each, mutual TLS; idle windows of {:.0} s; load average {}",
        if sites.is_empty() {
            "no sites"
        } else {
            "one silent site each: the orders stay open"
        },
        idle.as_secs_f64(),
        bench::load_average()
    );
    let mut rows = Vec::new();
    for n in sizes {
        let dir = tempfile::tempdir()?;
        let shutdown = CancellationToken::new();
        let row = measure(&node, dir.path(), n, idle, &sites, &shutdown).await;
        shutdown.cancel();
        rows.push(row.with_context(|| format!("{n} domains"))?);
    }
    print_table(&rows);
    Ok(())
}

/// The `maestro-node` binary next to this one.
fn maestro_node() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me
        .parent()
        .context("this binary has no directory")?
        .join("maestro-node");
    ensure!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -p maestro-tests --bin maestro-node`",
        bin.display()
    );
    Ok(bin)
}

/// Starts maestro as its own process on a free port; returns the process and its URL.
fn start_maestro(
    bin: &Path,
    dir: &Path,
    pki: &maestro_cli::dev::pki::DevTls,
) -> anyhow::Result<(Node, String)> {
    let port = maestro_testkit::net::free_port();
    let config = json!({
        "listen": format!("127.0.0.1:{port}"),
        "data_dir": dir.join("maestro/data"),
        "catalog_dir": bench::catalog_dir(),
        "tls": serde_json::to_value(&pki.maestro)?,
        "operator_policy": pki.policy,
    });
    let mut node = maestro_tests::nodes::with_config(
        bin,
        "maestro",
        "maestro",
        &dir.join("maestro"),
        &config,
    )?;
    node.start()?;
    Ok((node, format!("https://127.0.0.1:{port}")))
}

async fn measure(
    bin: &Path,
    dir: &Path,
    n: usize,
    idle: Duration,
    sites: &[String],
    shutdown: &CancellationToken,
) -> anyhow::Result<Row> {
    let names: Vec<String> = (0..n).map(bench::domain_name).collect();
    let pki = bench::pki(dir, &names)?;
    let (mut maestro, url) = start_maestro(bin, dir, &pki)?;
    let pid = maestro.pid().context("maestro is not running")?;
    let api = MaestroApi::tls(url.clone(), &pki.operator)?;
    orders::wait_domains_ready(&api, &[], WAIT)
        .await
        .with_context(|| format!("maestro serving; its log:\n{}", maestro.log_tail()))?;
    let alone = ProcUsage::read(pid)?;

    let domains = bench::start_domains_with_sites(dir, &names, &pki, &url, sites, shutdown).await?;
    bench::wait_ready(&api, &domains, WAIT).await?;
    let (registered, idle_registered) = idle_window(pid, idle).await?;

    let all = domains.names();
    let mut client = orders::order_client(&api)?;
    let before = ProcUsage::read(pid)?;
    let t0 = Instant::now();
    let mut placed = Vec::new();
    for s in 0..SERVICES {
        let service = format!("scale-{s}");
        let spec = bench::add_order(&service, "bench", &all);
        placed.push(bench::create(&mut client, &service, spec).await?);
    }
    for order in &placed {
        bench::until_acknowledged(&mut client, &order.id, WAIT).await?;
    }
    let orders_time = t0.elapsed();
    let orders_cpu = ProcUsage::read(pid)?.cpu.saturating_sub(before.cpu);
    if !sites.is_empty() {
        // The domains report their silent sites unreachable once the sites' threshold passed;
        // idle starts once every order shows it.
        for order in &placed {
            bench::until_held_on_silence(&mut client, &order.id, WAIT).await?;
        }
    }
    let (intents, idle_intents) = idle_window(pid, idle).await?;

    let mut watch = Vec::with_capacity(WATCH_SAMPLES);
    for i in 0..WATCH_SAMPLES {
        let service = format!("watch-{i}");
        let one = [all[i % all.len()]];
        let t0 = Instant::now();
        let order = bench::create(
            &mut client,
            &service,
            bench::add_order(&service, "bench", &one),
        )
        .await?;
        let acked = bench::until_acknowledged(&mut client, &order.id, WAIT).await?;
        watch.push(acked - t0);
    }
    let (watch_p50, watch_p99) = bench::p50_p99(&mut watch);

    maestro.stop()?;
    shutdown.cancel();
    domains.stopped(WAIT).await?;
    Ok(Row {
        domains: n,
        rss_alone: alone.rss_kib,
        rss_registered: registered.rss_kib,
        rss_intents: intents.rss_kib,
        idle_registered,
        idle_intents,
        orders_time,
        orders_cpu,
        watch_p50,
        watch_p99,
        idle_window: idle,
    })
}

/// Maestro's CPU over `window` of nothing asked of it; returns its figures at the end and the
/// CPU time used.
async fn idle_window(pid: u32, window: Duration) -> anyhow::Result<(ProcUsage, Duration)> {
    let start = ProcUsage::read(pid)?;
    // A measurement window, not a wait for something to happen.
    tokio::time::sleep(window).await;
    let end = ProcUsage::read(pid)?;
    Ok((end, end.cpu.saturating_sub(start.cpu)))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>7} {:>7} | {:>9} {:>9} {:>9} {:>11} | {:>10} {:>10} {:>11} | {:>9} {:>10} | {:>9} {:>9}",
        "domains",
        "intents",
        "rss-alone",
        "rss-reg",
        "rss-10/d",
        "KiB/domain",
        "idle-reg",
        "idle-10/d",
        "idle/domain",
        "orders",
        "cpu/intent",
        "watch-p50",
        "watch-p99",
    );
    for r in rows {
        let n = r.domains as f64;
        let intents = r.domains * SERVICES;
        let per_second = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / r.idle_window.as_secs_f64();
        println!(
            "{:>7} {:>7} | {:>6} MiB {:>5} MiB {:>5} MiB {:>11.0} | {:>5.1} ms/s {:>5.1} ms/s {:>6.1} us/s | {:>7.2} s {:>7.3} ms | {:>9} {:>9}",
            r.domains,
            intents,
            r.rss_alone / 1024,
            r.rss_registered / 1024,
            r.rss_intents / 1024,
            r.rss_intents.saturating_sub(r.rss_alone) as f64 / n,
            per_second(r.idle_registered),
            per_second(r.idle_intents),
            per_second(r.idle_intents) * 1000.0 / n,
            r.orders_time.as_secs_f64(),
            r.orders_cpu.as_secs_f64() * 1000.0 / intents as f64,
            bench::ms(r.watch_p50),
            bench::ms(r.watch_p99),
        );
    }
    println!(
        "  rss: maestro alone, with the domains registered, with {SERVICES} intents per domain; \
         KiB/domain: (rss-10/d - rss-alone) / domains"
    );
    println!(
        "  idle: maestro's CPU per second of an idle window with the domains registered, then with \
         the intents; idle/domain: the latter per domain"
    );
    println!(
        "  orders: {SERVICES} orders on every domain placed until all acknowledged, and maestro's \
         CPU per intent meanwhile; watch: a one-domain order, CreateOrder to the WatchOrder event \
         of its acknowledgement"
    );
}
