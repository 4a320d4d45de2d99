//! `bench-status-scale`: a domain's status path with many sites pushing at once.
//!
//! SITES simulated sites push status and heartbeat records to a log server the way a site agent
//! does (one `Push` of its blueprint's status and a heartbeat per heartbeat interval, each site
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
//!    sites report their blueprint converged (the steady state); the domain's last site never
//!    reports, so the order never completes.
//!
//! Prints the connection set-up (handshakes per second, memory per connection), the figures of
//! each phase, and the ratios: loaded ingest to the baseline capacity, loaded to unloaded P99.
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-status-scale [SITES [SECONDS
//! [INTERVAL_MS]]]` (default 10000 30 10000: the site agent's default heartbeat interval). A
//! smoke run: `bench-status-scale 20 3 500`.

use anyhow::{Context, bail, ensure};
use maestro_cli::client::MaestroClient;
use maestro_cli::dev::pki::DevTls;
use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_proto::intent::v1::WatchIntentStatusRequest;
use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_proto::logs::v1::{BlueprintStatus, PushRequest, Record, SiteHeartbeat, record};
use maestro_proto::order::v1::{ItemAction, ServiceOrder, WatchOrderRequest};
use maestro_tests::orders;
use maestro_tests::sitebench::{mib, ms, percentile, proc_usage, raise_open_files};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

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
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let n: Vec<u64> = std::env::args()
            .skip(1)
            .map(|a| a.parse().with_context(|| format!("{a:?} is not a number")))
            .collect::<Result<_, _>>()?;
        ensure!(
            n.len() <= 3,
            "usage: bench-status-scale [SITES [SECONDS [INTERVAL_MS]]]"
        );
        let a = Args {
            sites: usize::try_from(n.first().copied().unwrap_or(10_000))?,
            seconds: n.get(1).copied().unwrap_or(30),
            interval_ms: n.get(2).copied().unwrap_or(10_000),
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

/// A simulated site: its name, its connection and its per-stream sequences.
struct Site {
    name: String,
    client: LogServiceClient<Channel>,
    status_seq: u64,
    heartbeat_seq: u64,
}

/// What a site agent reports once per heartbeat: its blueprint's status, then a heartbeat.
fn report(site: &mut Site, order_id: &str, converged: bool) -> Vec<Record> {
    site.status_seq += 1;
    site.heartbeat_seq += 1;
    let now = Some(maestro_common::time::timestamp(
        maestro_common::time::now_millis(),
    ));
    let status = Record {
        domain: DOMAIN.into(),
        site: site.name.clone(),
        blueprint: SERVICE.into(),
        generation: 1,
        stream: "status".into(),
        sender_sequence: site.status_seq,
        observed_at: now,
        intent_id: maestro_common::ids::intent_id(SERVICE, DOMAIN),
        order_id: order_id.into(),
        body: Some(record::Body::Status(BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: u32::from(converged),
            total_instances: 1,
            converged,
            // About what a process deployment's status says of one instance.
            status_json: format!(
                r#"{{"instances":[{{"name":"{SERVICE}-0","state":"running","pid":4242,"restarts":0}}],"ready":{}}}"#,
                u32::from(converged)
            ),
            ..BlueprintStatus::default()
        })),
        ..Record::default()
    };
    let heartbeat = Record {
        domain: DOMAIN.into(),
        site: site.name.clone(),
        stream: "heartbeat".into(),
        sender_sequence: site.heartbeat_seq,
        observed_at: now,
        body: Some(record::Body::Heartbeat(SiteHeartbeat {
            blueprints: 1,
            free_memory_bytes: 1 << 30,
            free_cpu_millis: 2000,
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            synced_at: now,
            ..SiteHeartbeat::default()
        })),
        ..Record::default()
    };
    vec![status, heartbeat]
}

/// Loads every site's TLS material (the certificates were issued by `prepare`).
fn site_material(pki: &DevTls, sites: usize) -> anyhow::Result<Vec<TlsSource>> {
    (1..=sites)
        .map(|i| {
            let name = site_name(i);
            let settings = pki.sites.get(&name).context("no certificate")?;
            TlsSource::load(settings)?.context("TLS material")
        })
        .collect()
}

/// One connection per site to the log server at `url`, each site with its own certificate;
/// each site's first push (an empty one) completes the TCP connect and TLS handshake, at most
/// [`CONNECTING`] at a time. Returns the sites and how long connecting took.
async fn connect(url: &str, tls: &[TlsSource]) -> anyhow::Result<(Vec<Site>, Duration)> {
    let expect = Role::Domain {
        domain: ResourceName::parse("domain", DOMAIN)?,
    };
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, source) in tls.iter().enumerate() {
        let channel = maestro_common::grpc::channel_with(url, Some(source), Some(expect.clone()))?;
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut client = LogServiceClient::new(channel);
            client
                .push(PushRequest::default())
                .await
                .with_context(|| format!("first push of {}", site_name(i + 1)))?;
            anyhow::Ok((
                i,
                Site {
                    name: site_name(i + 1),
                    client,
                    status_seq: 0,
                    heartbeat_seq: 0,
                },
            ))
        });
    }
    let mut sites: Vec<Option<Site>> = (0..tls.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, site) = joined??;
        sites[i] = Some(site);
    }
    let elapsed = started.elapsed();
    Ok((sites.into_iter().flatten().collect(), elapsed))
}

/// Totals of a load phase.
#[derive(Default)]
struct Load {
    records: AtomicU64,
    pushes: AtomicU64,
    failures: AtomicU64,
}

/// Every site pushes its report until `until`: back to back (`interval` `None`) or once per
/// `interval`, the sites' phases spread over it. Returns the sites (their sequences advanced).
async fn drive(
    sites: Vec<Site>,
    order_id: &str,
    interval: Option<Duration>,
    until: Instant,
    load: Arc<Load>,
) -> anyhow::Result<Vec<Site>> {
    let count = sites.len().max(1) as u32;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut site) in sites.into_iter().enumerate() {
        let (load, order_id) = (load.clone(), order_id.to_string());
        tasks.spawn(async move {
            let mut next =
                Instant::now() + interval.map_or(Duration::ZERO, |d| d * i as u32 / count);
            while next < until {
                if interval.is_some() {
                    tokio::time::sleep_until(next.into()).await;
                }
                // Steady state: every blueprint converged, re-sent with each heartbeat.
                let records = report(&mut site, &order_id, true);
                let n = records.len() as u64;
                match site.client.push(PushRequest { records }).await {
                    Ok(_) => {
                        load.records.fetch_add(n, Ordering::Relaxed);
                        load.pushes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        load.failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                next = match interval {
                    Some(d) => next + d,
                    None => Instant::now(),
                };
            }
            (i, site)
        });
    }
    let mut back: Vec<Option<Site>> = (0..count as usize).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, site) = joined?;
        back[i] = Some(site);
    }
    Ok(back.into_iter().flatten().collect())
}

/// The probe's ready count in an order's first item, if shown.
fn order_ready(order: &ServiceOrder) -> Option<u32> {
    let domain = order.items.first()?.domains.first()?;
    domain
        .sites
        .iter()
        .find(|s| s.site == PROBE)
        .map(|s| s.ready)
}

/// Arrivals of the probe's ready count on a stream.
type Arrivals = mpsc::UnboundedReceiver<(Instant, u32)>;

/// Waits for an arrival showing `want`; returns when it arrived.
async fn arrival(rx: &mut Arrivals, want: u32, what: &str) -> anyhow::Result<Instant> {
    let wait = async {
        loop {
            match rx.recv().await {
                Some((at, ready)) if ready == want => return Ok(at),
                Some(_) => {}
                None => bail!("{what} ended"),
            }
        }
    };
    maestro_testkit::within(format!("{what} showing {PROBE} ready = {want}"), WAIT, wait).await?
}

/// The probe's samples: push → the domain's intent status, push → maestro's WatchOrder.
#[derive(Default)]
struct Probe {
    domain: Vec<Duration>,
    order: Vec<Duration>,
}

/// Pushes `site-1`'s status changes until `samples` were taken or `until`, timing each to both
/// streams.
async fn probe(
    site: &mut Site,
    order_id: &str,
    streams: &mut (Arrivals, Arrivals),
    samples: usize,
    until: Option<Instant>,
) -> anyhow::Result<Probe> {
    let mut out = Probe::default();
    let mut converged = false;
    for _ in 0..samples {
        if until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        while streams.0.try_recv().is_ok() {}
        while streams.1.try_recv().is_ok() {}
        converged = !converged;
        let mut records = report(site, order_id, converged);
        records.truncate(1);
        let t0 = Instant::now();
        site.client
            .push(PushRequest { records })
            .await
            .context("probe push")?;
        let want = u32::from(converged);
        let at_domain = arrival(&mut streams.0, want, "the domain's WatchIntentStatus").await?;
        let at_order = arrival(&mut streams.1, want, "maestro's WatchOrder").await?;
        out.domain.push(at_domain - t0);
        out.order.push(at_order - t0);
    }
    out.domain.sort();
    out.order.sort();
    Ok(out)
}

fn print_probe(label: &str, p: &Probe) {
    for (what, v) in [
        ("push -> domain intent status", &p.domain),
        ("push -> WatchOrder", &p.order),
    ] {
        println!(
            "  {label}: {what}: {} samples, median {}  p90 {}  p99 {}  max {}",
            v.len(),
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.9)),
            ms(percentile(v, 0.99)),
            ms(percentile(v, 1.0)),
        );
    }
}

/// Follows the domain's intent status and maestro's order, forwarding the probe's ready count.
async fn watch_streams(
    domain_url: &str,
    maestro: &MaestroClient,
    pki: &DevTls,
    order_id: &str,
) -> anyhow::Result<(Arrivals, Arrivals)> {
    let tls = TlsSource::load(&pki.maestro)?;
    let expect = Role::Domain {
        domain: ResourceName::parse("domain", DOMAIN)?,
    };
    let channel = maestro_common::grpc::channel_with(domain_url, tls.as_ref(), Some(expect))?;
    let mut statuses = IntentServiceClient::new(channel)
        .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
        .watch_intent_status(WatchIntentStatusRequest {})
        .await
        .context("WatchIntentStatus")?
        .into_inner();
    let (tx, domain_rx) = mpsc::unbounded_channel();
    let intent = maestro_common::ids::intent_id(SERVICE, DOMAIN);
    tokio::spawn(async move {
        while let Some(Ok(s)) = statuses.next().await {
            let at = Instant::now();
            if s.intent_id != intent {
                continue;
            }
            if let Some(site) = s.sites.iter().find(|x| x.site == PROBE)
                && tx.send((at, site.ready)).is_err()
            {
                return;
            }
        }
    });
    let mut watch = maestro
        .orders()
        .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
        .watch_order(WatchOrderRequest {
            id: order_id.into(),
        })
        .await
        .context("WatchOrder")?
        .into_inner();
    let (tx, order_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(ev)) = watch.next().await {
            let at = Instant::now();
            if let Some(ready) = ev.order.as_ref().and_then(order_ready)
                && tx.send((at, ready)).is_err()
            {
                return;
            }
        }
    });
    Ok((domain_rx, order_rx))
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let limit = raise_open_files(args.sites as u64 * 4 + 4096)?;
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
    let material = site_material(&pki, args.sites)?;
    println!(
        "{} sites, one certificate each (ECDSA P-256), issued and loaded in {:.1} s; open files limit {open_files}",
        args.sites,
        t0.elapsed().as_secs_f64()
    );

    // 1. Baseline: the log server alone.
    let base_stop = shutdown.child_token();
    let base = start_log_server(dir, "baseline-log-server", &pki, &base_stop).await?;
    let rss_before = proc_usage(0)?.rss;
    let (sites, took) = connect(&format!("https://{}", base.addr), &material).await?;
    let rss_after = proc_usage(0)?.rss;
    println!(
        "baseline: {} mutual-TLS connections in {:.2} s ({:.0} handshakes/s), {} more resident memory ({:.1} KiB per connection, both ends in this process)",
        sites.len(),
        took.as_secs_f64(),
        rate(sites.len() as u64, took),
        mib(rss_after.saturating_sub(rss_before)),
        rss_after.saturating_sub(rss_before) as f64 / 1024.0 / sites.len().max(1) as f64
    );
    let load = Arc::new(Load::default());
    let span = Duration::from_secs(args.seconds.div_ceil(3).max(1));
    let started = Instant::now();
    let cpu0 = proc_usage(0)?.cpu_secs;
    let sites = drive(sites, "", None, started + span, load.clone()).await?;
    let took = started.elapsed();
    let cpu = proc_usage(0)?.cpu_secs - cpu0;
    let baseline = rate(load.records.load(Ordering::Relaxed), took);
    println!(
        "baseline: {} records in {} pushes ({} failed) in {:.1} s, back to back: {baseline:.0} records/s, no subscriber ({:.1} s of CPU)",
        load.records.load(Ordering::Relaxed),
        load.pushes.load(Ordering::Relaxed),
        load.failures.load(Ordering::Relaxed),
        took.as_secs_f64(),
        cpu
    );
    drop(sites);
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
    let (mut sites, took) = connect(&log_url, &material).await?;
    println!(
        "status path: {} connections in {:.2} s",
        sites.len(),
        took.as_secs_f64()
    );
    let mut probe_site = sites.remove(0);
    // The domain's last site never reports, so the order never completes and every probe sample
    // changes the watched order (as in `bench-status-latency`).
    let silent = sites.remove(in_domain - 2);
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
    let load = Arc::new(Load::default());
    let span = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let until = started + span;
    let cpu0 = proc_usage(0)?.cpu_secs;
    let driving = tokio::spawn({
        let (load, order_id) = (load.clone(), order.id.clone());
        let interval = Duration::from_millis(args.interval_ms);
        async move { drive(sites, &order_id, Some(interval), until, load).await }
    });
    let loaded = probe(
        &mut probe_site,
        &order.id,
        &mut streams,
        usize::MAX,
        Some(until),
    )
    .await?;
    let _sites = driving.await??;
    // The sites stopped pushing at `until`; the probe may have waited longer.
    let took = until.saturating_duration_since(started);
    drop(silent);
    let cpu = proc_usage(0)?.cpu_secs - cpu0;
    let records = load.records.load(Ordering::Relaxed);
    let offered = (args.sites - 2) as f64 * 2.0 * 1000.0 / args.interval_ms as f64;
    let ingested = rate(records, took);
    println!(
        "loaded: {} other sites (one stays silent), a status and a heartbeat each every {} ms (offered {offered:.0} records/s): {records} records in {} pushes ({} failed) in {:.1} s: {ingested:.0} records/s ingested ({:.1} s of CPU, {:.0} % of 2 cores)",
        args.sites - 2,
        args.interval_ms,
        load.pushes.load(Ordering::Relaxed),
        load.failures.load(Ordering::Relaxed),
        took.as_secs_f64(),
        cpu,
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
