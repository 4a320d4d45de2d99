//! What the maestro-side benchmarks (`bench-fanout`, `bench-intake`, `bench-scale`) share:
//! domain orchestrators without sites around one maestro on loopback, mutual TLS from the dev
//! PKI on every hop, the baselines they are measured against (loopback gRPC round trips,
//! durable sled writes) and the formatting of their figures.
//!
//! A domain here is a real `domain_orchestrator::run` with its sled store, its bare Git
//! repository and its gRPC API, registered with maestro; it has no sites and no log server (its
//! config allows both), so an intent is stored, acknowledged and rendered for nobody.

use crate::api::MaestroApi;
use anyhow::{Context, ensure};
use maestro_cli::dev::pki::DevTls;
use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_proto::order::v1::{
    DeliveryState, ItemAction, OrderSpec, OrderState, ServiceOrder, WatchOrderRequest,
    order_service_client::OrderServiceClient,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How many domain orchestrators start at once.
const STARTING_AT_ONCE: usize = 16;

/// A loopback address on a port the system picks.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The `p` quantile (0..=1) of `sorted` (not empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A duration in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// P50 and P99 of `samples` (sorted here); zero when there is none.
pub fn p50_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    samples.sort();
    (percentile(samples, 0.5), percentile(samples, 0.99))
}

/// The command line's numbers, `defaults` where absent; fails on a word that is not one or on
/// more than `defaults.len()` words.
pub fn numbers(usage: &str, defaults: &[u64]) -> anyhow::Result<Vec<u64>> {
    let given: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse::<u64>()
                .with_context(|| format!("{a:?} is not a number; usage: {usage}"))
        })
        .collect::<Result<_, _>>()?;
    ensure!(given.len() <= defaults.len(), "usage: {usage}");
    Ok(defaults
        .iter()
        .enumerate()
        .map(|(i, d)| given.get(i).copied().unwrap_or(*d))
        .collect())
}

/// Raises this process's open-file limit to its hard limit (a thousand domains hold several
/// thousand sockets and files); returns the limit now in force.
pub fn raise_open_files() -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("setrlimit")?;
    }
    Ok(hard.max(soft))
}

/// The name of the `i`-th benchmark domain (0-based).
pub fn domain_name(i: usize) -> String {
    format!("bench-{:04}", i + 1)
}

/// The dev PKI for `domains` (no sites): maestro's, each domain's and the `dev` operator's
/// certificates under `dir/pki`.
pub fn pki(dir: &Path, domains: &[String]) -> anyhow::Result<DevTls> {
    Ok(maestro_cli::dev::pki::prepare(dir, domains, &[])?)
}

/// The catalog the benchmarks order from (the repository's examples: `demo-app`).
pub fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/catalog")
}

/// Maestro in this process with mutual TLS; returns its URL.
pub async fn start_maestro(
    dir: &Path,
    tls: &DevTls,
    shutdown: &CancellationToken,
) -> anyhow::Result<String> {
    let running = maestro::run(
        maestro::Config {
            listen: loopback(),
            data_dir: dir.join("maestro"),
            catalog_dir: catalog_dir(),
            tls: tls.maestro.clone(),
            operator_policy: Some(tls.policy.clone()),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .context("starting maestro")?;
    Ok(format!("https://{}", running.addr))
}

/// One running benchmark domain.
#[derive(Debug, Clone)]
pub struct BenchDomain {
    /// Its name.
    pub name: String,
    /// Its orchestrator's gRPC endpoint.
    pub endpoint: String,
}

/// Running benchmark domains and the tasks that end when they stopped.
#[derive(Debug)]
pub struct Domains {
    /// The domains, in the order they were asked for.
    pub list: Vec<BenchDomain>,
    /// One per domain: ends when the domain stopped (after its shutdown token is cancelled).
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Domains {
    /// Their names.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|d| d.name.as_str()).collect()
    }

    /// Waits (bounded by `timeout`) for every domain to stop; their token must be cancelled.
    pub async fn stopped(self, timeout: Duration) -> anyhow::Result<()> {
        let all = futures::future::join_all(self.tasks);
        maestro_testkit::within("the domains to stop", timeout, all).await?;
        Ok(())
    }
}

/// Starts the orchestrators of `names` in this process (data under `dir/<name>`), each
/// registering with maestro at `maestro_url`, a few at a time; they stop when `shutdown` is
/// cancelled.
pub async fn start_domains(
    dir: &Path,
    names: &[String],
    tls: &DevTls,
    maestro_url: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Domains> {
    start_domains_with_sites(dir, names, tls, maestro_url, &[], shutdown).await
}

/// [`start_domains`] with `sites` in every domain (no site agent runs for them: each stays
/// silent, and the intents placed on it stay pending).
pub async fn start_domains_with_sites(
    dir: &Path,
    names: &[String],
    tls: &DevTls,
    maestro_url: &str,
    sites: &[String],
    shutdown: &CancellationToken,
) -> anyhow::Result<Domains> {
    use futures::stream::{self, StreamExt as _, TryStreamExt as _};
    let started: Vec<(BenchDomain, tokio::task::JoinHandle<()>)> =
        stream::iter(names.iter().cloned())
            .map(|name| start_domain(dir, name, tls, maestro_url, sites, shutdown))
            .buffered(STARTING_AT_ONCE)
            .try_collect()
            .await?;
    let (list, tasks) = started.into_iter().unzip();
    Ok(Domains { list, tasks })
}

async fn start_domain(
    dir: &Path,
    name: String,
    tls: &DevTls,
    maestro_url: &str,
    sites: &[String],
    shutdown: &CancellationToken,
) -> anyhow::Result<(BenchDomain, tokio::task::JoinHandle<()>)> {
    let settings = tls
        .domains
        .get(&name)
        .with_context(|| format!("no certificate for {name}"))?
        .clone();
    let base = dir.join(&name);
    let running = domain_orchestrator::run(
        domain_orchestrator::Config {
            domain: name.clone(),
            listen: loopback(),
            data_dir: base.join("orchestrator"),
            git_remote: base.join("remote.git").display().to_string(),
            git_init_remote: true,
            sites: sites.to_vec(),
            log_server: String::new(),
            maestro: Some(maestro_url.to_string()),
            tls: settings,
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("starting domain {name}"))?;
    let domain = BenchDomain {
        name,
        endpoint: format!("https://{}", running.addr),
    };
    Ok((domain, running.task))
}

/// Waits (bounded by `timeout`) until maestro lists every domain of `domains` as ready.
pub async fn wait_ready(
    api: &MaestroApi,
    domains: &Domains,
    timeout: Duration,
) -> anyhow::Result<()> {
    crate::orders::wait_domains_ready(api, &domains.names(), timeout).await
}

/// A mutual-TLS channel to `domain` as maestro (the domain must present its own certificate).
pub fn domain_channel(domain: &BenchDomain, tls: &DevTls) -> anyhow::Result<Channel> {
    let source = TlsSource::load(&tls.maestro)?;
    let expect = Role::Domain {
        domain: ResourceName::parse("domain", &domain.name)?,
    };
    Ok(maestro_common::grpc::channel_with(
        &domain.endpoint,
        source.as_ref(),
        Some(expect),
    )?)
}

/// One health `Check` on each of `channels`, all at once; returns when every one answered.
pub async fn check_all(channels: &[Channel]) -> anyhow::Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let calls = channels.iter().map(|ch| {
        let mut client = HealthClient::new(ch.clone());
        async move {
            client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
        }
    });
    for reply in futures::future::join_all(calls).await {
        reply.context("health Check")?;
    }
    Ok(())
}

/// Waits (bounded by `timeout`) until every domain of `order` reports its intent committed to
/// Git (a status with a commit, on each domain's `WatchIntentStatus` over `channels`, one per
/// domain of `domains`): the domains' reconciles of that order, which run after the
/// acknowledgement, are done. A domain's first publish (its Git repository's first commit and
/// push) is work done once per domain; a benchmark that times later orders waits for it so that
/// it does not run under them.
pub async fn until_committed(
    channels: &[Channel],
    domains: &Domains,
    order: &ServiceOrder,
    timeout: Duration,
) -> anyhow::Result<()> {
    use tokio_stream::StreamExt as _;
    let mut pending: std::collections::BTreeMap<&str, &str> = order
        .items
        .iter()
        .flat_map(|i| i.domains.iter())
        .map(|d| (d.domain.as_str(), d.intent_id.as_str()))
        .collect();
    let concerned = domains
        .list
        .iter()
        .zip(channels)
        .filter(|(d, _)| pending.contains_key(d.name.as_str()))
        .map(|(d, channel)| (d.name.clone(), channel.clone()))
        .collect::<Vec<_>>();
    let watch = async {
        let mut streams = intent_status_streams(concerned).await?;
        while let Some((domain, status)) = streams.next().await {
            let status = status.with_context(|| format!("status stream of domain {domain}"))?;
            let ours = pending.get(domain.as_str()) == Some(&status.intent_id.as_str());
            if ours && !status.commit.is_empty() {
                pending.remove(domain.as_str());
                if pending.is_empty() {
                    return Ok(());
                }
            }
        }
        anyhow::bail!("the domains' status streams ended")
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(done) => done,
        Err(_) => anyhow::bail!(
            "intents not committed within {} s: {:?}",
            timeout.as_secs(),
            pending.keys().take(5).collect::<Vec<_>>()
        ),
    }
}

/// Every domain's `WatchIntentStatus` (its current statuses, then each change), one per
/// `(domain, channel)`, merged and keyed by the domain.
pub async fn intent_status_streams(
    domains: impl IntoIterator<Item = (String, Channel)>,
) -> anyhow::Result<
    tokio_stream::StreamMap<String, tonic::Streaming<maestro_proto::intent::v1::IntentStatus>>,
> {
    use maestro_proto::intent::v1::WatchIntentStatusRequest;
    use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
    let mut streams = tokio_stream::StreamMap::new();
    for (domain, channel) in domains {
        let stream = IntentServiceClient::new(channel)
            .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
            .watch_intent_status(WatchIntentStatusRequest {})
            .await
            .with_context(|| format!("WatchIntentStatus of domain {domain}"))?
            .into_inner();
        streams.insert(domain, stream);
    }
    Ok(streams)
}

/// An order adding `service` (`demo-app`, one replica) on `domains`.
pub fn add_order(service: &str, message: &str, domains: &[&str]) -> OrderSpec {
    crate::orders::demo_order(ItemAction::Add, service, message, 1, domains)
}

pub use crate::orders::create;

/// True when every domain of every item of `order` acknowledged its intent, or the order
/// completed: it completes only once every domain reported the intent's status at its
/// generation, which a domain does only after storing the intent durably — a status may be
/// recorded before the acknowledgement of the same `ApplyIntent`, and a completed order's
/// watch ends.
pub fn all_acknowledged(order: &ServiceOrder) -> bool {
    if order.state() == OrderState::Completed {
        return true;
    }
    order.items.iter().all(|i| {
        !i.domains.is_empty()
            && i.domains
                .iter()
                .all(|d| d.delivery() == DeliveryState::Acknowledged)
    })
}

/// Follows order `id` on `WatchOrder` until an event shows every intent acknowledged by its
/// domain (bounded by `timeout`); returns when that event arrived.
pub async fn until_acknowledged(
    client: &mut OrderServiceClient<Channel>,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    let what = "every domain acknowledged";
    watch_until(client, id, timeout, what, all_acknowledged).await?;
    Ok(Instant::now())
}

/// Follows order `id` on `WatchOrder` until an event shows every intent held on an unreachable
/// site or domain (bounded by `timeout`): what an order placed on silent sites settles to.
pub async fn until_held_on_silence(
    client: &mut OrderServiceClient<Channel>,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let held = |o: &ServiceOrder| {
        o.items
            .iter()
            .all(|i| !i.domains.is_empty() && i.domains.iter().all(|d| d.unreachable))
    };
    watch_until(client, id, timeout, "every intent held on silence", held).await?;
    Ok(())
}

/// Follows order `id` on `WatchOrder` until it is completed (bounded by `timeout`); returns the
/// completed order, whose revision counts the writes that changed it.
pub async fn until_completed(
    client: &mut OrderServiceClient<Channel>,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<ServiceOrder> {
    let completed = |o: &ServiceOrder| o.state() == OrderState::Completed;
    watch_until(client, id, timeout, "the order completed", completed).await
}

/// The first order of `WatchOrder` of `id` for which `done` holds (`what` it waits for), within
/// `timeout`.
async fn watch_until(
    client: &mut OrderServiceClient<Channel>,
    id: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&ServiceOrder) -> bool,
) -> anyhow::Result<ServiceOrder> {
    let watch = async {
        let mut stream = client
            .watch_order(WatchOrderRequest { id: id.into() })
            .await
            .context("WatchOrder")?
            .into_inner();
        while let Some(event) = stream.message().await.context("WatchOrder stream")? {
            if let Some(order) = event.order.filter(&done) {
                return Ok(order);
            }
        }
        anyhow::bail!("WatchOrder of {id} ended before {what}")
    };
    maestro_testkit::within(format!("order {id}: {what}"), timeout, watch).await?
}

/// Durable sled writes: `value_bytes`-byte inserts by `concurrency` tasks for `window`, each
/// insert flushed before the next one of its task.
#[derive(Debug, Clone, Copy)]
pub struct SledBaseline {
    /// Tasks writing at once.
    pub concurrency: usize,
    /// Size of each value.
    pub value_bytes: usize,
    /// How long they write.
    pub window: Duration,
}

/// How each write of a [`SledBaseline`] is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushBy {
    /// `maestro_common::durable::flush`, as the components flush.
    Durable,
    /// One blocking `Tree::flush` per insert on Tokio's blocking pool, shared with nobody.
    OwnFlush,
}

impl SledBaseline {
    /// Runs the writes into a fresh database under `dir`; returns the durable inserts per
    /// second.
    pub async fn run(self, dir: &Path, by: FlushBy) -> anyhow::Result<f64> {
        let path = dir.join(format!("sled-baseline-{by:?}-{}", self.concurrency));
        let db = maestro_common::durable::open(&path)?;
        let value = vec![b'x'; self.value_bytes];
        let started = Instant::now();
        let deadline = started + self.window;
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..self.concurrency {
            let (db, value) = (db.clone(), value.clone());
            tasks.spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    db.insert(format!("{t}/{n}"), value.clone())?;
                    flush(&db, by).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            });
        }
        let mut inserts = 0u64;
        while let Some(done) = tasks.join_next().await {
            inserts += done??;
        }
        let secs = started.elapsed().as_secs_f64();
        drop(db);
        Ok(inserts as f64 / secs)
    }
}

/// Makes what `db` holds durable the way `by` says.
pub async fn flush(db: &sled::Db, by: FlushBy) -> anyhow::Result<()> {
    match by {
        FlushBy::Durable => {
            maestro_common::durable::flush(db).await?;
        }
        FlushBy::OwnFlush => {
            let db = db.clone();
            tokio::task::spawn_blocking(move || db.flush()).await??;
        }
    }
    Ok(())
}

/// What `/proc` says of a process: resident memory and CPU time used so far.
#[derive(Debug, Clone, Copy)]
pub struct ProcUsage {
    /// `VmRSS` in KiB.
    pub rss_kib: u64,
    /// `utime + stime` of `/proc/<pid>/stat`.
    pub cpu: Duration,
}

impl ProcUsage {
    /// Reads process `pid`'s figures now.
    pub fn read(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .context("no VmRSS in /proc/<pid>/status")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The fields after the command (which may hold spaces) start after its closing paren.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("unreadable /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat; the state after the paren is field 3.
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields
                .get(i)
                .context("short /proc/<pid>/stat")?
                .parse::<u64>()?)
        };
        let total = ticks(11)? + ticks(12)?;
        Ok(Self {
            rss_kib,
            cpu: Duration::from_millis(total * 1000 / USER_HZ),
        })
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (Linux's `USER_HZ`, 100 on every
/// architecture it runs on here).
const USER_HZ: u64 = 100;

/// The load average of this machine (`/proc/loadavg`'s first three figures).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
