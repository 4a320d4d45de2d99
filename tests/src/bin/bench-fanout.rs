//! `bench-fanout`: how long one order takes to reach DOMAINS domains, next to the time of the
//! network and disk work it cannot avoid.
//!
//! Starts, in this process on loopback with mutual TLS from the dev PKI on every hop, maestro
//! and DOMAINS domain orchestrators (each its real sled store, bare Git repository and gRPC
//! API; no sites, no log server), registered with maestro. Then, ORDERS times, as the `dev`
//! operator: places an order adding a new `demo-app` service on every domain and times
//! `CreateOrder` to the `WatchOrder` event in which every domain's delivery is acknowledged
//! (maestro records an acknowledgement once the domain's `ApplyIntent` returned OK, which the
//! domain answers only once the intent is flushed, and stores it durably before the event), or
//! the order completed (see [`bench::all_acknowledged`]). The first order, which opens maestro's
//! channels, is not counted, and the orders start once every domain committed it to Git (a
//! domain's first publish creates its branch: work done once, not under the timed orders).
//!
//! The baseline, measured between the orders on the same machine: one health `Check` on each
//! domain's already-open channel, all at once, then one durable sled write (insert and
//! `maestro_common::durable::flush`) of an order's size: the round trips and the write an order
//! needs at the least. It prints both, their ratio (target ≤ 3×) and, as a reference, the
//! figure Karmada publishes for 100 clusters; then, once every order completed, how many times
//! maestro wrote each one (its revision: every roll-up that changed it).
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-fanout [DOMAINS [ORDERS]]`
//! (default 100 20). A smoke run: `bench-fanout 3 2`.

use anyhow::{Context, ensure};
use maestro_tests::api::MaestroApi;
use maestro_tests::bench::{self, FlushBy};
use maestro_tests::orders;
use prost::Message;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Bound on starting, registering and each order.
const WAIT: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-fanout.rs"));
    let args = bench::numbers("bench-fanout [DOMAINS [ORDERS]]", &[100, 20])?;
    let (domains, orders) = (usize::try_from(args[0])?, usize::try_from(args[1])?);
    ensure!(
        domains >= 1 && orders >= 1,
        "DOMAINS and ORDERS must be at least 1"
    );
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let result = run(dir.path(), domains, orders, &shutdown).await;
    shutdown.cancel();
    result
}

async fn run(
    dir: &Path,
    n: usize,
    orders: usize,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let open_files = bench::raise_open_files()?;
    let names: Vec<String> = (0..n).map(bench::domain_name).collect();
    let t = Instant::now();
    let pki = bench::pki(dir, &names)?;
    let pki_time = t.elapsed();
    let maestro_url = bench::start_maestro(dir, &pki, shutdown).await?;
    let api = MaestroApi::tls(maestro_url.clone(), &pki.operator)?;
    let t = Instant::now();
    let domains = bench::start_domains(dir, &names, &pki, &maestro_url, shutdown).await?;
    let start_time = t.elapsed();
    bench::wait_ready(&api, &domains, WAIT).await?;
    let ready_time = t.elapsed();
    println!(
        "fan-out: one order to {n} domains, {orders} orders (mutual TLS; maestro and the domains \
         in this process, no sites); load average {}",
        bench::load_average()
    );
    println!(
        "  setup: {n} certificates in {:.2} s, domains started in {:.2} s, all ready after {:.2} s \
         (open files limit {open_files})",
        pki_time.as_secs_f64(),
        start_time.as_secs_f64(),
        ready_time.as_secs_f64()
    );

    let channels = domains
        .list
        .iter()
        .map(|d| bench::domain_channel(d, &pki))
        .collect::<anyhow::Result<Vec<_>>>()?;
    bench::check_all(&channels)
        .await
        .context("opening the channels")?;
    let db = maestro_common::durable::open(&dir.join("baseline"))?;
    let names: Vec<&str> = domains.names();
    let mut client = orders::order_client(&api)?;

    // The first order also opens maestro's channels to the domains: not counted.
    let t = Instant::now();
    let first = bench::create(
        &mut client,
        "fanout-warm-up",
        bench::add_order("fanout-warm-up", "bench", &names),
    )
    .await?;
    bench::until_acknowledged(&mut client, &first.id, WAIT).await?;
    let warm_up = t.elapsed();
    // Each domain's first Git publish (its repository's first commit) runs after it acknowledged
    // the first order; it happens once per domain and is waited for, not timed under the orders.
    let t = Instant::now();
    bench::until_committed(&channels, &domains, &first, WAIT).await?;
    let first_publish = t.elapsed();
    let value = vec![b'x'; first.encoded_len()];

    let mut fanout = Vec::with_capacity(orders);
    let mut baseline = Vec::with_capacity(orders);
    let mut placed = Vec::with_capacity(orders);
    for i in 0..orders {
        let service = format!("fanout-{i}");
        let spec = bench::add_order(&service, "bench", &names);
        let t0 = Instant::now();
        let order = bench::create(&mut client, &service, spec).await?;
        let acked = bench::until_acknowledged(&mut client, &order.id, WAIT)
            .await
            .with_context(|| format!("order {i}"))?;
        fanout.push(acked - t0);
        placed.push(order.id);

        let t0 = Instant::now();
        bench::check_all(&channels).await?;
        db.insert(format!("order-{i}"), value.clone())?;
        bench::flush(&db, FlushBy::Durable).await?;
        baseline.push(t0.elapsed());
    }
    // How many times maestro wrote each order until it completed: a roll-up that changed it.
    let mut revisions = Vec::with_capacity(orders);
    for id in &placed {
        revisions.push(
            bench::until_completed(&mut client, id, WAIT)
                .await?
                .revision,
        );
    }
    revisions.sort_unstable();
    let (f50, f99) = bench::p50_p99(&mut fanout);
    let (b50, b99) = bench::p50_p99(&mut baseline);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "  first order (opens maestro's channels, not counted): {}; every domain's first Git \
         publish done {} later (waited for, not counted)",
        bench::ms(warm_up),
        bench::ms(first_publish)
    );
    println!(
        "  order -> every domain acknowledged: P50 {}  P99 {}  (min {}, max {})",
        bench::ms(f50),
        bench::ms(f99),
        bench::ms(fanout[0]),
        bench::ms(fanout[fanout.len() - 1]),
    );
    println!(
        "  baseline ({n} parallel health Checks + 1 durable sled write of {} bytes): P50 {}  P99 {}",
        value.len(),
        bench::ms(b50),
        bench::ms(b99),
    );
    println!(
        "  ratio: P50 {:.1}x  P99 {:.1}x  (target <= 3x)",
        ratio(f50, b50),
        ratio(f99, b99)
    );
    println!("  reference: Karmada publishes P50 706 ms, P99 1.3 s for 100 clusters");
    println!(
        "  writes of an order until completed (its revision): median {}, max {}",
        revisions[revisions.len() / 2],
        revisions[revisions.len() - 1]
    );
    Ok(())
}
