//! `bench-intake`: how many orders per second maestro takes in durably, next to how many
//! durable writes per second its disk allows.
//!
//! Starts, in this process on loopback with mutual TLS from the dev PKI, maestro and one domain
//! orchestrator (its real sled store, Git repository and gRPC API; no sites, no log server),
//! registered with maestro. Then:
//!
//! 1. the baseline, on the same disk: CONCURRENCY tasks insert values of an order's size into a
//!    fresh sled database for SECONDS, each insert flushed before the task's next one — once with
//!    one flush of its own per insert, once through `maestro_common::durable::flush` as the
//!    components flush (which lets concurrent requests share a flush); then CONCURRENCY tasks
//!    making empty authenticated unary calls (maestro's health `Check`, same kind of channel)
//!    for SECONDS, with the CPU per call: the floor of any call on this path;
//! 2. CONCURRENCY tasks place orders as the `dev` operator for SECONDS, each `CreateOrder` adding
//!    a new `demo-app` service on the domain and awaited before the task's next one (maestro
//!    answers once the order, its outbox and its audit entry are flushed).
//!
//! It prints orders/s with their latency, the CPU time the whole process spent meanwhile per
//! order (`utime + stime` of `/proc/self/stat`: clients, maestro and domain) and the sled flushes
//! per order, inserts/s of both baselines and the ratios (target:
//! orders/s ≥ 50 % of the durable inserts/s). Then the CPU per second of the process in 8 slices
//! of min(SECONDS / 2, 10 s): the placement's tail, then idle with every intent it placed stored
//! at the domain.
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-intake [CONCURRENCY [SECONDS]]`
//! (default 16 10). A smoke run: `bench-intake 4 1`.

use anyhow::ensure;
use maestro_tests::api::MaestroApi;
use maestro_tests::bench::{self, FlushBy, SledBaseline};
use maestro_tests::orders;
use prost::Message;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Bound on starting and registering.
const WAIT: Duration = Duration::from_secs(120);
/// The CPU after the orders is measured in this many slices of at most `IDLE_SLICE` (half the
/// orders' window for short runs).
const IDLE_SLICES: usize = 8;
const IDLE_SLICE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-intake.rs"));
    let args = bench::numbers("bench-intake [CONCURRENCY [SECONDS]]", &[16, 10])?;
    let (concurrency, seconds) = (usize::try_from(args[0])?, args[1]);
    ensure!(
        concurrency >= 1 && seconds >= 1,
        "CONCURRENCY and SECONDS must be at least 1"
    );
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let result = run(
        dir.path(),
        concurrency,
        Duration::from_secs(seconds),
        &shutdown,
    )
    .await;
    shutdown.cancel();
    result
}

async fn run(
    dir: &Path,
    concurrency: usize,
    window: Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let names = vec![bench::domain_name(0)];
    let pki = bench::pki(dir, &names)?;
    let maestro_url = bench::start_maestro(dir, &pki, shutdown).await?;
    let api = MaestroApi::tls(maestro_url.clone(), &pki.operator)?;
    let domains = bench::start_domains(dir, &names, &pki, &maestro_url, shutdown).await?;
    bench::wait_ready(&api, &domains, WAIT).await?;
    let domain = names[0].as_str();
    let mut client = orders::order_client(&api)?;
    let sample = bench::create(
        &mut client,
        "intake-warm-up",
        bench::add_order("intake-warm-up", "bench", &[domain]),
    )
    .await?;
    let value_bytes = sample.encoded_len();
    println!(
        "intake: CreateOrder at concurrency {concurrency} for {:.0} s (mutual TLS; maestro and one \
         domain in this process); load average {}",
        window.as_secs_f64(),
        bench::load_average()
    );

    let baseline = SledBaseline {
        concurrency,
        value_bytes,
        window,
    };
    let own = baseline.run(dir, FlushBy::OwnFlush).await?;
    let shared = baseline.run(dir, FlushBy::Durable).await?;
    let (checks, check_cpu) = empty_calls(&api, concurrency, window).await?;

    let cpu_before = bench::ProcUsage::read(std::process::id())?.cpu;
    let flushes_before = maestro_common::durable::flushes_done();
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..concurrency {
        let mut client = client.clone();
        let domain = domain.to_string();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let service = format!("intake-{t}-{n}");
                let spec = bench::add_order(&service, "bench", &[domain.as_str()]);
                let t0 = Instant::now();
                bench::create(&mut client, &service, spec).await?;
                latencies.push(t0.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = bench::ProcUsage::read(std::process::id())?.cpu - cpu_before;
    let flushes = maestro_common::durable::flushes_done() - flushes_before;
    let per_second = latencies.len() as f64 / elapsed;
    let (p50, p99) = bench::p50_p99(&mut latencies);
    println!(
        "  orders: {} in {elapsed:.2} s = {per_second:.0} orders/s  (CreateOrder P50 {}  P99 {})",
        latencies.len(),
        bench::ms(p50),
        bench::ms(p99)
    );
    println!(
        "  CPU of this process while placing them (clients, maestro, domain): {:.2} s = {:.2} ms \
         per order",
        cpu.as_secs_f64(),
        1000.0 * cpu.as_secs_f64() / latencies.len().max(1) as f64
    );
    println!(
        "  sled flushes meanwhile (maestro's and the domain's databases, each shared by the \
         requests that waited for it): {flushes} = {:.2} per order",
        flushes as f64 / latencies.len().max(1) as f64
    );
    println!(
        "  baseline, {value_bytes}-byte sled inserts each flushed: {own:.0} inserts/s with a flush \
         of their own, {shared:.0} inserts/s through durable::flush"
    );
    println!(
        "  baseline, empty authenticated unary calls (health Check on maestro, same channel kind): \
         {checks:.0} calls/s, {:.2} ms of CPU per call; orders/s = {:.0} % of it",
        1000.0 * check_cpu,
        100.0 * per_second / checks.max(1e-9)
    );
    println!(
        "  ratio: orders/s = {:.0} % of own-flush inserts/s, {:.0} % of durable::flush inserts/s \
         (target >= 50 %)",
        100.0 * per_second / own.max(1e-9),
        100.0 * per_second / shared.max(1e-9)
    );
    // What the federation costs once the orders stopped, holding what they placed: first the
    // placement's tail (the domain's publishes and statuses, maestro's roll-ups), then idle with
    // every intent stored at the domain (its silence timer, its periodic re-publish).
    let slice = (window / 2).min(IDLE_SLICE);
    let mut slices = Vec::new();
    for _ in 0..IDLE_SLICES {
        let before = bench::ProcUsage::read(std::process::id())?.cpu;
        tokio::time::sleep(slice).await; // a measurement window, not a wait for an event
        let spent = bench::ProcUsage::read(std::process::id())?.cpu - before;
        slices.push(format!(
            "{:.0}",
            1000.0 * spent.as_secs_f64() / slice.as_secs_f64()
        ));
    }
    println!(
        "  idle afterwards, {} intents stored: CPU in ms per second, {:.1} s slices: {}",
        latencies.len() + 1,
        slice.as_secs_f64(),
        slices.join(", ")
    );
    Ok(())
}

/// CONCURRENCY tasks calling maestro's health `Check` (an empty unary call over the same
/// mutual-TLS channel as the orders) for `window`: calls/s and CPU seconds of this process per
/// call.
async fn empty_calls(
    api: &MaestroApi,
    concurrency: usize,
    window: Duration,
) -> anyhow::Result<(f64, f64)> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let client = HealthClient::new(api.channel()?);
    let cpu_before = bench::ProcUsage::read(std::process::id())?.cpu;
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let mut client = client.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                client.check(request).await?;
                n += 1;
            }
            anyhow::Ok(n)
        });
    }
    let mut calls = 0u64;
    while let Some(done) = tasks.join_next().await {
        calls += done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = bench::ProcUsage::read(std::process::id())?.cpu - cpu_before;
    let per_call = cpu.as_secs_f64() / calls.max(1) as f64;
    Ok((calls as f64 / elapsed, per_call))
}
