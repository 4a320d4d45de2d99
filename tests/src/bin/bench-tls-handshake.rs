//! `bench-tls-handshake`: what mutual TLS costs on a Maestro gRPC hop.
//!
//! Serves gRPC on loopback with `maestro_common::grpc::serve_with`, plaintext and mutual TLS (a
//! `domain/north` certificate of a throwaway CA), and calls its health `Check` as `maestro`
//! calls a domain (client certificate `maestro`, server identity expected). For each mode:
//! - the first call on a new channel (TCP connect, TLS handshake, HTTP/2 setup, one `Check`),
//!   over SAMPLES fresh channels;
//! - later calls on an established channel (1,000 sequential `Check`s, each timed);
//! - calls per second with 16 concurrent callers sharing one established channel.
//!
//! `serve_with` sets TCP_NODELAY on every accepted connection, plaintext or TLS. Mutual TLS is
//! measured twice: with one `TlsSource` for every channel, as a running component dials,
//! so a reconnect resumes the session with a ticket from an earlier one; and with material
//! loaded afresh for each channel (untimed), so every handshake is a full one.
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-tls-handshake [SAMPLES]` (default 200).

use anyhow::{Context, bail};
use maestro_common::grpc::{channel_with, serve_with};
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_testkit::pki::TestPki;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Sequential calls timed on one established channel.
const LATER_CALLS: usize = 1000;
/// Concurrent callers sharing one channel for the throughput figure.
const CALLERS: usize = 16;
/// Calls each of them makes.
const CALLS_PER_CALLER: usize = 1000;
/// Fresh channels and calls made before any timing.
const WARM_UP: usize = 20;

/// One health `Check`, which must answer SERVING.
async fn check(channel: Channel) -> anyhow::Result<()> {
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .context("health Check")?
        .into_inner();
    if reply.status != ServingStatus::Serving as i32 {
        bail!("health Check answered {}", reply.status);
    }
    Ok(())
}

/// Serves health (and reflection) on an ephemeral loopback port; returns its URL.
async fn start(tls: Option<TlsSource>, stop: &CancellationToken) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    let routes = tonic::service::Routes::default();
    tokio::spawn(serve_with(listener, routes, &[], tls, stop.clone()));
    Ok(url)
}

/// The figures of one mode.
struct Figures {
    /// First call on each fresh channel, sorted.
    first: Vec<Duration>,
    /// Each later call on one established channel, sorted.
    later: Vec<Duration>,
    /// Calls per second with [`CALLERS`] concurrent callers on one channel.
    rate: f64,
}

/// Measures a mode whose new channels `open` makes (untimed: channels connect lazily, so the
/// connection and handshake happen in the first call, which is timed).
async fn measure(
    samples: usize,
    mut open: impl FnMut() -> anyhow::Result<Channel>,
) -> anyhow::Result<Figures> {
    for _ in 0..WARM_UP {
        check(open()?).await.context("warm-up")?;
    }
    let mut first = Vec::with_capacity(samples);
    for _ in 0..samples {
        let channel = open()?;
        let t0 = Instant::now();
        check(channel).await?;
        first.push(t0.elapsed());
    }

    let channel = open()?;
    for _ in 0..WARM_UP * 10 {
        check(channel.clone()).await.context("warm-up")?;
    }
    let mut later = Vec::with_capacity(LATER_CALLS);
    for _ in 0..LATER_CALLS {
        let t0 = Instant::now();
        check(channel.clone()).await?;
        later.push(t0.elapsed());
    }

    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let channel = channel.clone();
        callers.spawn(async move {
            for _ in 0..CALLS_PER_CALLER {
                check(channel.clone()).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done??;
    }
    let rate = (CALLERS * CALLS_PER_CALLER) as f64 / started.elapsed().as_secs_f64();

    first.sort();
    later.sort();
    Ok(Figures { first, later, rate })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median, p90 and p99 in milliseconds.
fn spread(sorted: &[Duration]) -> [f64; 3] {
    [0.5, 0.9, 0.99].map(|p| percentile(sorted, p).as_secs_f64() * 1000.0)
}

/// One table row: first-call and later-call spreads, then the throughput.
fn row(mode: &str, first: [f64; 3], later: [f64; 3], rate: f64, unit: &str) {
    let [f50, f90, f99] = first;
    let [l50, l90, l99] = later;
    println!(
        "{mode:<28} {f50:>8.3} {f90:>8.3} {f99:>8.3} {unit:<3}| {l50:>7.3} {l90:>7.3} {l99:>7.3} {unit:<3}| {rate:>8.2}"
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-tls-handshake.rs"));
    let samples: usize = match std::env::args().nth(1) {
        Some(s) => s.parse().context("SAMPLES must be a number")?,
        None => 200,
    };
    if samples == 0 {
        bail!("SAMPLES must be at least 1");
    }
    let pki = TestPki::new("bench.example");
    let server_tls = TlsSource::load(&pki.issue("domain/north"))?.context("server TLS")?;
    let client_settings = pki.issue("maestro");
    let client_tls = TlsSource::load(&client_settings)?.context("client TLS")?;
    let north = Role::Domain {
        domain: maestro_common::ResourceName::parse("domain", "north")?,
    };

    let stop = CancellationToken::new();
    let plain_url = start(None, &stop).await?;
    let tls_url = start(Some(server_tls), &stop).await?;

    let plain = measure(samples, || Ok(channel_with(&plain_url, None, None)?)).await?;
    let resumed = measure(samples, || {
        Ok(channel_with(
            &tls_url,
            Some(&client_tls),
            Some(north.clone()),
        )?)
    })
    .await?;
    let full = measure(samples, || {
        let fresh = TlsSource::load(&client_settings)?.context("client TLS")?;
        Ok(channel_with(&tls_url, Some(&fresh), Some(north.clone()))?)
    })
    .await?;
    stop.cancel();

    println!(
        "gRPC health Check on 127.0.0.1: {samples} fresh channels per mode; {LATER_CALLS} later \
         calls on one channel; {CALLERS} callers x {CALLS_PER_CALLER} calls on one channel"
    );
    println!(
        "{:<28} {:>30}| {:>27}| {:>8}",
        "mode", "first call: median p90 p99", "later call: median p90 p99", "calls/s"
    );
    let modes = [
        ("plaintext", &plain),
        ("mutual TLS, resumed", &resumed),
        ("mutual TLS, full handshake", &full),
    ];
    for (mode, f) in modes {
        row(mode, spread(&f.first), spread(&f.later), f.rate, "ms");
    }
    let ratio = |a: &[Duration], b: &[Duration]| {
        let (a, b) = (spread(a), spread(b));
        [0, 1, 2].map(|i| a[i] / b[i])
    };
    for (mode, f) in [
        ("TLS resumed / plaintext", &resumed),
        ("TLS full / plaintext", &full),
    ] {
        let first = ratio(&f.first, &plain.first);
        let later = ratio(&f.later, &plain.later);
        row(mode, first, later, f.rate / plain.rate, "x");
    }
    Ok(())
}
