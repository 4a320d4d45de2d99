//! What the site-side benchmarks (`bench-status-scale`, `bench-site-footprint`, `bench-idle`)
//! share: percentiles, a process's resource use read from `/proc`, a TCP proxy on loopback that
//! counts the bytes crossing it, and raising the open-file limit.

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat` (Linux's `USER_HZ`, 100 on
/// every architecture this runs on).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// The `p`-quantile (0..=1) of ascending `sorted` (nearest rank); zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `d` in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `bytes` in MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcUsage {
    /// Resident set size now (`VmRSS`), bytes.
    pub rss: u64,
    /// Peak resident set size (`VmHWM`), bytes.
    pub hwm: u64,
    /// Threads.
    pub threads: u64,
    /// CPU time in user and kernel mode since the process started, seconds.
    pub cpu_secs: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat` (`pid` 0: this process).
pub fn proc_usage(pid: u32) -> anyhow::Result<ProcUsage> {
    let base = if pid == 0 {
        "/proc/self".to_string()
    } else {
        format!("/proc/{pid}")
    };
    let status = std::fs::read_to_string(format!("{base}/status"))
        .with_context(|| format!("reading {base}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("{base}/stat"))
        .with_context(|| format!("reading {base}/stat"))?;
    // Fields after the command (which may hold spaces and parentheses): state is field 3,
    // utime 14 and stime 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> u64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    Ok(ProcUsage {
        rss: field("VmRSS:") * 1024,
        hwm: field("VmHWM:") * 1024,
        threads: field("Threads:"),
        cpu_secs: (tick(11) + tick(12)) as f64 / TICKS_PER_SECOND,
    })
}

/// The names of a process's threads with how many share each name (`/proc/<pid>/task/*/comm`).
pub fn thread_names(pid: u32) -> Vec<(String, usize)> {
    let base = if pid == 0 {
        "/proc/self/task".to_string()
    } else {
        format!("/proc/{pid}/task")
    };
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    if let Ok(entries) = std::fs::read_dir(base) {
        for e in entries.flatten() {
            let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            *names.entry(name.trim().to_string()).or_default() += 1;
        }
    }
    names.into_iter().collect()
}

/// Raises this process's limit of open files to at least `want`: the hard limit too when the
/// process may (as root), else the soft limit up to the hard one. Returns the limit in force.
pub fn raise_open_files(want: u64) -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit")?;
    if soft >= want {
        return Ok(soft);
    }
    if hard < want && setrlimit(Resource::RLIMIT_NOFILE, want, want).is_ok() {
        return Ok(want);
    }
    let new = want.min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, new, hard).context("setrlimit")?;
    Ok(new)
}

/// Bytes that crossed a [`CountingProxy`], each way.
#[derive(Debug, Default)]
pub struct Traffic {
    /// From the client to the server.
    pub up: AtomicU64,
    /// From the server to the client.
    pub down: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

impl Traffic {
    /// (up, down, connections) now.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
            self.connections.load(Ordering::Relaxed),
        )
    }
}

/// A TCP proxy on 127.0.0.1 that forwards every connection to `upstream` and counts the bytes
/// (TCP payload: TLS records included, TCP/IP headers not). Stops when `stop` is cancelled.
pub struct CountingProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// What crossed it.
    pub traffic: Arc<Traffic>,
}

impl CountingProxy {
    /// Listens on an ephemeral loopback port.
    pub async fn start(upstream: SocketAddr, stop: CancellationToken) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let traffic = Arc::new(Traffic::default());
        let counts = traffic.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else { continue };
                counts.connections.fetch_add(1, Ordering::Relaxed);
                let (counts, stop) = (counts.clone(), stop.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = pump(cr, sw, &counts.up);
                    let down = pump(sr, cw, &counts.down);
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = async { tokio::join!(up, down) } => {}
                    }
                });
            }
        });
        Ok(Self { addr, traffic })
    }
}

/// Copies `from` to `to` until either ends, adding what it copied to `count`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: &AtomicU64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// The site binary the benchmarks run as separate processes: `$MAESTRO_SITE_BIN`, else
/// `maestro-site` next to the running benchmark (`cargo build --release -p site-agent --bin
/// maestro-site`), else `maestro-node run site` next to it (the same agent in the larger
/// all-in-one binary; the smoke tests use it). Returns the program and its arguments before
/// `--config FILE`.
pub fn site_program() -> anyhow::Result<(std::path::PathBuf, Vec<String>)> {
    if let Some(bin) = std::env::var_os("MAESTRO_SITE_BIN") {
        return Ok((bin.into(), Vec::new()));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the benchmark's directory")?;
    let site = dir.join("maestro-site");
    if site.is_file() {
        return Ok((site, Vec::new()));
    }
    let node = dir.join("maestro-node");
    anyhow::ensure!(
        node.is_file(),
        "no maestro-site next to {} (cargo build --release -p site-agent --bin maestro-site) \
         and no maestro-node either; or set MAESTRO_SITE_BIN",
        exe.display()
    );
    Ok((node, vec!["run".into(), "site".into()]))
}

/// Writes `config` to `dir/config.json` and returns a site process (not started) with its log
/// at `dir/log.txt`.
pub fn site_node(
    name: &str,
    dir: &std::path::Path,
    config: &serde_json::Value,
) -> anyhow::Result<crate::nodes::Node> {
    let (program, mut args) = site_program()?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(config)?)?;
    args.push("--config".into());
    args.push(path.display().to_string());
    Ok(crate::nodes::Node::new(
        name,
        &program,
        args,
        &dir.join("log.txt"),
    ))
}

/// A domain for separate site processes: a log server, a maestro and a domain orchestrator in
/// this process on loopback (mutual TLS, certificates of the dev PKI under the data dir), the
/// domain publishing signed commits to a bare repository on disk.
pub struct BenchDomain {
    /// The domain.
    pub domain: String,
    /// Its sites.
    pub sites: Vec<String>,
    /// Every certificate.
    pub pki: maestro_cli::dev::pki::DevTls,
    /// The domain's signing key (its sites pin the public half).
    pub signing: maestro_cli::dev::pki::DevSigningKey,
    /// The log server's address.
    pub log_addr: SocketAddr,
    /// maestro's API as the dev operator.
    pub client: maestro_cli::client::MaestroClient,
    /// maestro's endpoint.
    pub maestro_url: String,
}

impl BenchDomain {
    /// Starts the three components; `repo` is the domain's bare repository (existing, or made
    /// when `init`), `dir` the data dir. They stop when `stop` is cancelled.
    pub async fn start(
        dir: &std::path::Path,
        domain: &str,
        sites: &[String],
        repo: &std::path::Path,
        init: bool,
        stop: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let pairs: Vec<(String, String)> = sites
            .iter()
            .map(|s| (domain.to_string(), s.clone()))
            .collect();
        let pki = maestro_cli::dev::pki::prepare(dir, &[domain.to_string()], &pairs)?;
        let signing = maestro_cli::dev::pki::signing_key(dir, domain)?;
        let domain_tls = pki
            .domains
            .get(domain)
            .context("domain certificate")?
            .clone();
        let logs = log_server::run(
            log_server::Config {
                listen,
                data_dir: dir.join("log-server"),
                domain: domain.into(),
                tls: domain_tls.clone(),
                ..Default::default()
            },
            stop.clone(),
        )
        .await
        .context("log server")?;
        let maestro = maestro::run(
            maestro::Config {
                listen,
                data_dir: dir.join("maestro"),
                catalog_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../examples/catalog"),
                tls: pki.maestro.clone(),
                operator_policy: Some(pki.policy.clone()),
                ..Default::default()
            },
            stop.clone(),
        )
        .await
        .context("maestro")?;
        let maestro_url = format!("https://{}", maestro.addr);
        domain_orchestrator::run(
            domain_orchestrator::Config {
                domain: domain.into(),
                listen,
                data_dir: dir.join("domain"),
                git_remote: repo.display().to_string(),
                git_init_remote: init,
                sites: sites.to_vec(),
                log_server: format!("https://{}", logs.addr),
                maestro: Some(maestro_url.clone()),
                tls: domain_tls,
                signing: domain_orchestrator::signing::SigningSettings {
                    keys: vec![signing.private.clone()],
                    ..Default::default()
                },
                ..Default::default()
            },
            stop.clone(),
        )
        .await
        .context("domain orchestrator")?;
        let client = maestro_cli::client::MaestroClient::new(&maestro_cli::settings::Settings {
            maestro: maestro_url.clone(),
            tls: Some(pki.operator.clone()),
            ..Default::default()
        })?;
        maestro_cli::dev::wait_for_domains(
            &client,
            &[domain.to_string()],
            std::time::Instant::now() + Duration::from_secs(120),
        )
        .await?;
        Ok(Self {
            domain: domain.into(),
            sites: sites.to_vec(),
            pki,
            signing,
            log_addr: logs.addr,
            client,
            maestro_url,
        })
    }

    /// The JSON config of site `site` as a separate process: its data under `data_dir`, Git at
    /// `git_remote` with `git` settings, the log server at `log_server`, the domain's key pinned,
    /// Docker off.
    pub fn site_config(
        &self,
        site: &str,
        data_dir: &std::path::Path,
        git_remote: &str,
        git: serde_json::Value,
        log_server: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let tls = self.pki.sites.get(site).context("site certificate")?;
        Ok(serde_json::json!({
            "domain": self.domain,
            "site": site,
            "data_dir": data_dir,
            "git_remote": git_remote,
            "git": git,
            "log_server": log_server,
            "tls": serde_json::to_value(tls)?,
            "signing": {"keys": [self.signing.public]},
            "reconcilers": {"docker": {"mode": "off"}},
        }))
    }

    /// Places `demo-app` (one replica) as `service` on every site of the domain and waits until
    /// the order completed; returns how long that took.
    pub async fn place(&self, service: &str, timeout: Duration) -> anyhow::Result<Duration> {
        use maestro_proto::order::v1::{ItemAction, OrderState};
        let started = std::time::Instant::now();
        let spec = crate::orders::demo_order(ItemAction::Add, service, "idle", 1, &[&self.domain]);
        let order =
            crate::orders::create(&mut self.client.orders(), &format!("{service}-add"), spec)
                .await?;
        let api = self.api()?;
        let (done, _) = crate::orders::watch_until_final(&api, &order.id, timeout).await?;
        anyhow::ensure!(
            done.state() == OrderState::Completed,
            "the order ended {:?}",
            done.state()
        );
        Ok(started.elapsed())
    }

    fn api(&self) -> anyhow::Result<crate::api::MaestroApi> {
        crate::api::MaestroApi::tls(self.maestro_url.clone(), &self.pki.operator)
    }
}
