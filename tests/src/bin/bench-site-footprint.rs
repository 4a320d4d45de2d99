//! `bench-site-footprint`: what one idle site costs: memory, CPU, threads and network.
//!
//! Runs the `maestro-site` binary as a separate process against a real domain: the domain's
//! log server, orchestrator and a maestro in this process on loopback (mutual TLS, the dev PKI),
//! the domain's bare repository served over HTTPS by nginx and `git-http-backend` (the Git
//! transport tests' server), the domain signing every commit and the site pinning its key. Two
//! counting TCP proxies on 127.0.0.1 sit between the site and the log server and between the
//! site and the Git server, so every byte the site sends and receives is counted (TLS
//! included). One order places `demo-app` (one `/bin/sh`) on the site; once it completed, the
//! site is left alone: SETTLE_S seconds to settle (the last status reports and the colony's first
//! re-checks), then SECONDS of idle, during which nothing changes.
//!
//! Prints, for the idle window: the site binary's size, resident memory (`VmRSS`, `VmHWM`,
//! anonymous and file-backed), threads by name, CPU per minute (utime + stime), bytes per minute
//! each way to Git and to the log server (with the HTTP requests nginx logged, and the bytes per
//! Git fetch and per heartbeat), the idle uplink in kbit/s, and each figure with its target and
//! ratio: RSS ≤ 10 MB, uplink ≤ 0.25 kbit/s; and the bytes the site wrote to its disk per
//! minute (`/proc/<pid>/io`: flash wear at a site that changes nothing).
//!
//! Usage: `cargo build --release -p site-agent --bin maestro-site && cargo run --release -p
//! maestro-tests --bin bench-site-footprint [SECONDS [SYNC_MS [HEARTBEAT_MS [SETTLE_S]]]]`
//! (default 120 30000 10000 35: the site agent's default intervals; SYNC_MS is the fetch interval
//! while no commit notice stream is open, with one open the site fetches every
//! `noticed_sync_interval_ms` and at each colony re-check, their defaults). The site binary is
//! `$MAESTRO_SITE_BIN`, else `maestro-site` next to this benchmark, else `maestro-node run site`
//! (larger): the same command measures the field build with `MAESTRO_SITE_BIN=PATH`, the path
//! `scripts/build-site.sh` prints. A smoke run: `bench-site-footprint 2 500 500 1`.

use anyhow::{Context, ensure};
use maestro_testkit::git_servers::HttpsGitServer;
use maestro_tests::sitebench::{
    BenchDomain, CountingProxy, ProcUsage, mib, proc_usage, site_node, site_program, thread_names,
};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "bench";
const SITE: &str = "bench-1";
const SERVICE: &str = "footprint";
/// Bound on the order completing.
const ORDER_WAIT: Duration = Duration::from_secs(180);
/// Target resident memory of an idle site (bytes).
const RSS_TARGET: f64 = 10_000_000.0;
/// Target idle uplink of a site (kbit/s).
const UPLINK_TARGET_KBITS: f64 = 0.25;

struct Args {
    seconds: u64,
    sync_ms: u64,
    heartbeat_ms: u64,
    settle_s: u64,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let n: Vec<u64> = std::env::args()
            .skip(1)
            .map(|a| a.parse().with_context(|| format!("{a:?} is not a number")))
            .collect::<Result<_, _>>()?;
        ensure!(
            n.len() <= 4,
            "usage: bench-site-footprint [SECONDS [SYNC_MS [HEARTBEAT_MS [SETTLE_S]]]]"
        );
        let a = Args {
            seconds: n.first().copied().unwrap_or(120),
            sync_ms: n.get(1).copied().unwrap_or(30_000),
            heartbeat_ms: n.get(2).copied().unwrap_or(10_000),
            settle_s: n.get(3).copied().unwrap_or(35),
        };
        ensure!(
            a.seconds >= 1 && a.sync_ms >= 1 && a.heartbeat_ms >= 1,
            "SECONDS, SYNC_MS and HEARTBEAT_MS must be > 0"
        );
        Ok(a)
    }
}

/// Everything counted at one moment.
#[derive(Clone, Copy)]
struct Reading {
    at: Instant,
    usage: ProcUsage,
    /// (up, down, connections) through the Git proxy and the log server proxy.
    git: (u64, u64, u64),
    log: (u64, u64, u64),
    /// Requests nginx logged so far.
    git_requests: usize,
    /// Bytes the site caused to be written to storage so far (`write_bytes` of `/proc/<pid>/io`).
    disk_written: u64,
}

/// What changed between two readings, per minute.
struct Window {
    secs: f64,
    cpu_per_min: f64,
    git_up: f64,
    git_down: f64,
    log_up: f64,
    log_down: f64,
    git_requests: usize,
    git_connections: u64,
    log_connections: u64,
    disk_per_min: f64,
}

impl Window {
    fn between(a: &Reading, b: &Reading) -> Self {
        let secs = (b.at - a.at).as_secs_f64().max(1e-9);
        let per_min = |x: u64, y: u64| y.saturating_sub(x) as f64 * 60.0 / secs;
        Window {
            secs,
            cpu_per_min: (b.usage.cpu_secs - a.usage.cpu_secs) * 60.0 / secs,
            git_up: per_min(a.git.0, b.git.0),
            git_down: per_min(a.git.1, b.git.1),
            log_up: per_min(a.log.0, b.log.0),
            log_down: per_min(a.log.1, b.log.1),
            git_requests: b.git_requests.saturating_sub(a.git_requests),
            git_connections: b.git.2.saturating_sub(a.git.2),
            log_connections: b.log.2.saturating_sub(a.log.2),
            disk_per_min: per_min(a.disk_written, b.disk_written),
        }
    }

    /// Bits per second sent by the site.
    fn uplink_kbits(&self) -> f64 {
        (self.git_up + self.log_up) * 8.0 / 60.0 / 1000.0
    }

    fn print(&self, label: &str) {
        println!(
            "{label} ({:.0} s): CPU {:.3} s per minute ({:.2} % of one core)",
            self.secs,
            self.cpu_per_min,
            self.cpu_per_min / 60.0 * 100.0
        );
        println!(
            "  Git:        up {:.0} B/min, down {:.0} B/min; {} HTTP requests, {} new connections",
            self.git_up, self.git_down, self.git_requests, self.git_connections
        );
        println!(
            "  log server: up {:.0} B/min, down {:.0} B/min; {} new connections",
            self.log_up, self.log_down, self.log_connections
        );
        println!(
            "  uplink {:.3} kbit/s, downlink {:.3} kbit/s",
            self.uplink_kbits(),
            (self.git_down + self.log_down) * 8.0 / 60.0 / 1000.0
        );
        println!("  disk: {:.0} B written per minute", self.disk_per_min);
    }
}

fn read(
    pid: u32,
    git: &CountingProxy,
    log: &CountingProxy,
    nginx_log: &Path,
) -> anyhow::Result<Reading> {
    Ok(Reading {
        at: Instant::now(),
        usage: proc_usage(pid)?,
        git: git.traffic.read(),
        log: log.traffic.read(),
        git_requests: std::fs::read_to_string(nginx_log)
            .map(|t| t.lines().count())
            .unwrap_or(0),
        disk_written: maestro_testkit::procs::written_bytes(pid)?,
    })
}

/// `RssAnon`, `RssFile` and `RssShmem` of a process, bytes.
fn rss_parts(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("RssAnon:"), kb("RssFile:"), kb("RssShmem:"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-site-footprint.rs"));
    let args = Args::parse()?;
    let dir = tempfile::Builder::new()
        .prefix("bench-site-footprint-")
        .tempdir()?;
    let stop = CancellationToken::new();
    let signals = maestro_common::shutdown::on_signals();
    let site_dir = dir.path().join("site");
    let result = tokio::select! {
        r = run(&args, dir.path(), &site_dir, &stop) => r,
        () = signals.cancelled() => Err(anyhow::anyhow!("interrupted")),
    };
    stop.cancel();
    // The site left its workload running (a stopped agent never stops them).
    match site_agent::stop_all_instances(&site_dir.join("data")).await {
        Ok(n) if n > 0 => println!("stopped {n} workload process(es)"),
        Ok(_) => {}
        Err(e) => eprintln!("warning: stopping the workload processes: {e}"),
    }
    result
}

async fn run(
    args: &Args,
    dir: &Path,
    site_dir: &Path,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let git = HttpsGitServer::start().await?;
    let repo = git.create_repo(DOMAIN)?;
    let domain = BenchDomain::start(
        &dir.join("domain"),
        DOMAIN,
        &[SITE.to_string()],
        &repo,
        false,
        stop,
    )
    .await?;
    let git_proxy =
        CountingProxy::start(SocketAddr::new(git.ip, git.port), stop.child_token()).await?;
    let log_proxy = CountingProxy::start(domain.log_addr, stop.child_token()).await?;
    let git_url = format!(
        "https://127.0.0.1:{}/git/{DOMAIN}.git",
        git_proxy.addr.port()
    );
    let git_settings = serde_json::json!({
        "ca": git.ca.cert,
        "username": git.username,
        "password_file": git.password_file("token", &git.password)?,
        "timeout_secs": 10,
    });
    let mut config = domain.site_config(
        SITE,
        &site_dir.join("data"),
        &git_url,
        git_settings,
        &format!("https://{}", log_proxy.addr),
    )?;
    config["sync_interval_ms"] = args.sync_ms.into();
    config["heartbeat_interval_ms"] = args.heartbeat_ms.into();
    let (program, _) = site_program()?;
    let binary_bytes = std::fs::metadata(&program)
        .with_context(|| format!("reading {}", program.display()))?
        .len();
    let mut node = site_node(&format!("site {SITE}"), site_dir, &config)?;
    node.start()?;
    let pid = node.pid().context("the site process has no pid")?;
    println!(
        "site process {} ({}, pid {pid}), Git fetch every {} ms without commit notices, heartbeat every {} ms",
        program.display(),
        mib(binary_bytes),
        args.sync_ms,
        args.heartbeat_ms
    );
    let nginx_log = git.dir().join("nginx-access.log");
    let start = read(pid, &git_proxy, &log_proxy, &nginx_log)?;
    let took = domain
        .place(SERVICE, ORDER_WAIT)
        .await
        .with_context(|| format!("the order; site log:\n{}", node.log_tail()))?;
    let placed = read(pid, &git_proxy, &log_proxy, &nginx_log)?;
    println!(
        "order placed on {SITE} and completed in {:.2} s (first clone, verify, start, report)",
        took.as_secs_f64()
    );
    Window::between(&start, &placed).print("start to completed");
    // Measurement windows: the site is left alone, nothing to wait for.
    tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
    let settled = read(pid, &git_proxy, &log_proxy, &nginx_log)?;
    Window::between(&placed, &settled).print("settling after the change");
    let mut peak_rss = settled.usage.rss;
    let end = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        let step = end
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(5));
        tokio::time::sleep(step).await;
        peak_rss = peak_rss.max(proc_usage(pid)?.rss);
    }
    let idle_end = read(pid, &git_proxy, &log_proxy, &nginx_log)?;
    let idle = Window::between(&settled, &idle_end);
    idle.print("idle");
    let u = idle_end.usage;
    let (anon, file, shmem) = rss_parts(pid);
    println!(
        "memory: VmRSS {} (max {} in the idle window), VmHWM {}; anonymous {}, file-backed {}, shared {}",
        mib(u.rss),
        mib(peak_rss),
        mib(u.hwm),
        mib(anon),
        mib(file),
        mib(shmem)
    );
    let threads: Vec<String> = thread_names(pid)
        .into_iter()
        .map(|(n, c)| format!("{n} ×{c}"))
        .collect();
    println!("threads: {} ({})", u.threads, threads.join(", "));
    // Each Git fetch opens a connection of its own; while the commit notice stream is open the
    // site fetches every `noticed_sync_interval_ms` and at each colony re-check, not every
    // SYNC_MS.
    let fetches = (idle.git_connections as f64).max(1e-9);
    let heartbeats = (args.seconds as f64 * 1000.0 / args.heartbeat_ms as f64).max(1e-9);
    println!(
        "per Git fetch ({fetches:.0} in the window): {:.0} B up, {:.0} B down; per heartbeat (~{heartbeats:.0}): {:.0} B up, {:.0} B down to the log server",
        (idle.git_up * idle.secs / 60.0) / fetches,
        (idle.git_down * idle.secs / 60.0) / fetches,
        (idle.log_up * idle.secs / 60.0) / heartbeats,
        (idle.log_down * idle.secs / 60.0) / heartbeats,
    );
    println!("binary: {} bytes ({})", binary_bytes, mib(binary_bytes));
    println!("figure | measured | target | ratio");
    println!(
        "RSS (idle, VmRSS) | {} | 10 MB | {:.2}",
        mib(u.rss),
        u.rss as f64 / RSS_TARGET
    );
    println!(
        "idle uplink | {:.3} kbit/s | {UPLINK_TARGET_KBITS} kbit/s | {:.2}",
        idle.uplink_kbits(),
        idle.uplink_kbits() / UPLINK_TARGET_KBITS
    );
    println!("idle CPU | {:.3} s/min | - | -", idle.cpu_per_min);
    println!("idle disk writes | {:.0} B/min | - | -", idle.disk_per_min);
    let status = node.stop()?;
    println!("site stopped: {status:?}");
    Ok(())
}
