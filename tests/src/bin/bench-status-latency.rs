//! `bench-status-latency`: how long a site's status takes to show on maestro's `WatchOrder`.
//!
//! Runs a log server, a domain orchestrator (sites `site-1`, `site-2`) and maestro in-process on
//! loopback, places a one-item order, then acts as `site-1`: pushes status records straight to the
//! log server, alternately converged and not, and times each from the start of its `Push` to the
//! `WatchOrder` event in which `site-1`'s ready count reflects it. `site-2` never reports, so the
//! order never completes and every sample changes the watched order.
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-status-latency [SAMPLES]` (default 600).

use anyhow::{Context, bail};
use maestro_common::tls::TlsSettings;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_proto::logs::v1::{BlueprintStatus, PushRequest, Record, record};
use maestro_proto::order::v1::{ItemAction, ServiceOrder, WatchOrderRequest};
use maestro_tests::api::MaestroApi;
use maestro_tests::orders;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "bench";
const SITE: &str = "site-1";
const SERVICE: &str = "latency-bench";
const WAIT: Duration = Duration::from_secs(60);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// `site-1`'s (ready, total) in an order, if shown.
fn site_ready(order: &ServiceOrder) -> Option<(u32, u32)> {
    let domain = order.items.first()?.domains.first()?;
    let site = domain.sites.iter().find(|s| s.site == SITE)?;
    Some((site.ready, site.total))
}

fn status(seq: u64, converged: bool, order_id: &str) -> Record {
    Record {
        domain: DOMAIN.into(),
        site: SITE.into(),
        blueprint: SERVICE.into(),
        generation: 1,
        stream: "status".into(),
        sender_sequence: seq,
        observed_at: Some(maestro_common::time::timestamp(
            maestro_common::time::now_millis(),
        )),
        intent_id: maestro_common::ids::intent_id(SERVICE, DOMAIN),
        order_id: order_id.into(),
        body: Some(record::Body::Status(BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: u32::from(converged),
            total_instances: 1,
            converged,
            ..BlueprintStatus::default()
        })),
        ..Record::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-status-latency.rs"));
    let samples: usize = match std::env::args().nth(1) {
        Some(s) => s.parse().context("SAMPLES must be a number")?,
        None => 600,
    };
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();

    let logs = log_server::run(
        log_server::Config {
            listen: loopback(),
            data_dir: dir.path().join("log-server"),
            domain: DOMAIN.into(),
            tls: TlsSettings::insecure(),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .context("log server")?;
    let maestro = maestro::run(
        maestro::Config {
            listen: loopback(),
            data_dir: dir.path().join("maestro"),
            catalog_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/catalog"),
            tls: TlsSettings::insecure(),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .context("maestro")?;
    let maestro_url = format!("http://{}", maestro.addr);
    let log_url = format!("http://{}", logs.addr);
    let _domain = domain_orchestrator::run(
        domain_orchestrator::Config {
            domain: DOMAIN.into(),
            listen: loopback(),
            data_dir: dir.path().join("domain"),
            git_remote: dir.path().join("remote.git").display().to_string(),
            git_init_remote: true,
            sites: vec![SITE.into(), "site-2".into()],
            log_server: log_url.clone(),
            maestro: Some(maestro_url.clone()),
            heartbeat_interval_ms: 500,
            // The bench's silent site-2 must not turn the order's reason into "unreachable".
            site_unreachable_after_ms: 0,
            tls: TlsSettings::insecure(),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .context("domain orchestrator")?;

    let api = MaestroApi::plaintext(maestro_url.clone());
    orders::wait_domains_ready(&api, &[DOMAIN], WAIT).await?;
    let mut client = orders::order_client(&api)?;
    let spec = orders::demo_order(ItemAction::Add, SERVICE, "bench", 1, &[DOMAIN]);
    let order = orders::create(&mut client, "latency-bench-1", spec).await?;

    // Every WatchOrder event with its arrival time.
    let (tx, mut events) = mpsc::unbounded_channel::<(Instant, Option<(u32, u32)>)>();
    let mut stream = client
        .watch_order(WatchOrderRequest {
            id: order.id.clone(),
        })
        .await?
        .into_inner();
    tokio::spawn(async move {
        while let Some(Ok(ev)) = stream.next().await {
            let at = Instant::now();
            let ready = ev.order.as_ref().and_then(site_ready);
            if tx.send((at, ready)).is_err() {
                return;
            }
        }
    });
    let mut wait_for = async |want: u32| -> anyhow::Result<Instant> {
        let what = format!("a WatchOrder event with {SITE} ready = {want}");
        let event = async {
            loop {
                match events.recv().await {
                    Some((at, Some((ready, 1)))) if ready == want => return Ok(at),
                    Some(_) => {}
                    None => bail!("WatchOrder stream ended"),
                }
            }
        };
        maestro_testkit::within(what, WAIT, event).await?
    };
    // The intent is rendered for site-1 (total 1) before the first sample.
    wait_for(0).await.context("rendering")?;

    let mut push = LogServiceClient::new(maestro_common::grpc::channel(&log_url)?);
    let mut latencies = Vec::with_capacity(samples);
    let started = Instant::now();
    for i in 0..samples {
        let converged = i % 2 == 0;
        let record = status(i as u64 + 1, converged, &order.id);
        let t0 = Instant::now();
        push.push(PushRequest {
            records: vec![record],
        })
        .await
        .context("Push")?;
        let at = wait_for(u32::from(converged))
            .await
            .with_context(|| format!("sample {i}"))?;
        latencies.push(at - t0);
    }
    let elapsed = started.elapsed();
    shutdown.cancel();

    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!("status latency: Push -> WatchOrder change, {samples} samples in {elapsed:.2?}");
    println!(
        "  median {}  p90 {}  p99 {}  max {}  (min {}, mean {})",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1]),
        ms(latencies[0]),
        ms(mean),
    );
    Ok(())
}
