//! A whole federation in one process on loopback: per domain a log server, a domain orchestrator
//! (with a bare Git repo under the data dir) and its site agents (embedded colonies); one maestro.

use super::liveness::{failover_after_ms, unreachable_after_ms};
use super::pki::DevTls;
use maestro_common::tls::TlsSettings;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The default catalog written to `<data>/catalog` (file name, contents).
pub const DEFAULT_CATALOG: &[(&str, &str)] = &[
    (
        "demo-app.yaml",
        include_str!("../../../examples/catalog/demo-app.yaml"),
    ),
    (
        "gateway-config.yaml",
        include_str!("../../../examples/catalog/gateway-config.yaml"),
    ),
];

/// Names of the first domains; later ones are `domain-5`, `domain-6`, ...
const DOMAIN_NAMES: [&str; 4] = ["north", "south", "east", "west"];

/// How long shutdown waits for every component to stop.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevOptions {
    /// Root of every component's data (created if missing).
    pub data_dir: PathBuf,
    /// Number of domains (>= 1).
    pub domains: usize,
    /// Sites per domain (>= 1).
    pub sites_per_domain: usize,
    /// Site agents' Git fetch interval while they get no commit notices from their log server.
    pub sync_interval_ms: u64,
    /// Site agents' Git fetch interval while they follow their log server's commit notices
    /// (they fetch at once when the domain announces a commit).
    pub noticed_sync_interval_ms: u64,
    /// Site agents follow their log server's commit notices (off: they only poll Git).
    pub commit_notices: bool,
    /// Site agents' heartbeat interval: the agent's own default (10 s). A heartbeat proves the
    /// site alive; what it says about the sync (a new commit, a failure, a pause) goes out at
    /// once whatever the interval, and a domain calls a site unreachable after 30 s of silence
    /// at any interval up to 10 s ([`super::liveness`]).
    pub site_heartbeat_interval_ms: u64,
    /// Domain orchestrators' heartbeat interval to maestro.
    pub domain_heartbeat_interval_ms: u64,
    /// Plaintext without certificates (default: mutual TLS on every hop, with a CA in
    /// `<data>/pki`).
    pub insecure: bool,
    /// The sites start their native processes through one launch helper this command starts
    /// (default: each spawns them itself). All sites share this process, whose descriptors
    /// (about 16 per site) the kernel copies and walks at every spawn; the helper holds a few.
    pub launch_helper: Option<site_agent::HelperCommand>,
}

impl DevOptions {
    /// Two domains of two sites under `data_dir`, with dev-friendly (short) intervals.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DevOptions {
            data_dir: data_dir.into(),
            domains: 2,
            sites_per_domain: 2,
            sync_interval_ms: 500,
            noticed_sync_interval_ms: 30_000,
            commit_notices: true,
            site_heartbeat_interval_ms: site_agent::Config::default().heartbeat_interval_ms,
            domain_heartbeat_interval_ms: 2000,
            insecure: false,
            launch_helper: None,
        }
    }
}

/// The name of the `i`-th domain (0-based): north, south, east, west, domain-5, ...
pub fn domain_name(i: usize) -> String {
    DOMAIN_NAMES
        .get(i)
        .map_or_else(|| format!("domain-{}", i + 1), |n| n.to_string())
}

/// One site of a domain.
#[derive(Debug, Clone)]
pub struct DevSite {
    /// Site name (`<domain>-<n>`).
    pub name: String,
    /// The site agent's data dir (its processes' table lives there).
    pub data_dir: PathBuf,
    /// Address of the site's embedded colony.
    pub colony_addr: SocketAddr,
}

/// One domain of the federation.
#[derive(Debug, Clone)]
pub struct DevDomain {
    /// Domain id.
    pub id: String,
    /// gRPC endpoint of its orchestrator.
    pub endpoint: String,
    /// gRPC endpoint of its log server.
    pub log_server_url: String,
    /// Path of its bare Git repository.
    pub remote_repo: PathBuf,
    /// Its sites.
    pub sites: Vec<DevSite>,
}

/// The kinds of component, in start order (they stop in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// A domain's log server.
    LogServer,
    /// Maestro.
    Maestro,
    /// A domain orchestrator.
    Domain,
    /// A site agent.
    Site,
}

const KINDS: [ComponentKind; 4] = [
    ComponentKind::LogServer,
    ComponentKind::Maestro,
    ComponentKind::Domain,
    ComponentKind::Site,
];

/// A running component's task.
#[derive(Debug)]
pub struct ComponentTask {
    /// What it is.
    pub kind: ComponentKind,
    /// e.g. `maestro`, `log-server north`, `domain north`, `site north-1`.
    pub name: String,
    /// Ends when the component stopped.
    pub task: JoinHandle<()>,
}

/// A running federation. Stop it with [`Federation::stop`] (or by cancelling the token given to
/// [`start_federation`], then [`Federation::join`]).
#[derive(Debug)]
pub struct Federation {
    /// Root data directory.
    pub data_dir: PathBuf,
    /// Catalog directory maestro reads.
    pub catalog_dir: PathBuf,
    /// Maestro's gRPC endpoint.
    pub maestro_url: String,
    /// The domains, in start order.
    pub domains: Vec<DevDomain>,
    /// Every component's task, in start order.
    pub tasks: Vec<ComponentTask>,
    /// The certificates (`None` with `insecure`).
    pub tls: Option<DevTls>,
    /// The `maestroctl` settings file for this federation (written at start).
    pub cli_settings: PathBuf,
    shutdown: CancellationToken,
    /// One child of `shutdown` per kind, so [`Federation::stop`] can stop sites first.
    kind_tokens: Vec<(ComponentKind, CancellationToken)>,
}

/// Why the federation could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// Options out of range.
    #[error("invalid dev options: {0}")]
    Options(String),
    /// A directory or file could not be prepared.
    #[error("preparing {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A component failed to start.
    #[error("starting {component}: {reason}")]
    Start {
        /// Which component.
        component: String,
        /// Its error.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn start_err(component: &str, e: &dyn std::fmt::Display) -> DevError {
    DevError::Start {
        component: component.to_string(),
        reason: e.to_string(),
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Writes the embedded default catalog into `dir`, keeping files that already exist.
pub fn write_default_catalog(dir: &Path) -> Result<(), DevError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    for (name, text) in DEFAULT_CATALOG {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, text).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// Starts the federation and returns once every component serves. Cancelling `shutdown` stops it.
/// On a start failure, whatever was started is stopped before the error returns.
pub async fn start_federation(
    opts: DevOptions,
    shutdown: CancellationToken,
) -> Result<Federation, DevError> {
    if opts.domains == 0 || opts.sites_per_domain == 0 {
        return Err(DevError::Options(
            "domains and sites_per_domain must be at least 1".into(),
        ));
    }
    let token = shutdown.child_token();
    let data_dir = std::path::absolute(&opts.data_dir).map_err(io_err(&opts.data_dir))?;
    let mut fed = Federation {
        catalog_dir: data_dir.join("catalog"),
        data_dir,
        maestro_url: String::new(),
        domains: Vec::new(),
        tasks: Vec::new(),
        tls: None,
        cli_settings: PathBuf::new(),
        kind_tokens: KINDS.iter().map(|k| (*k, token.child_token())).collect(),
        shutdown: token,
    };
    match start_all(&opts, &mut fed).await {
        Ok(()) => Ok(fed),
        Err(e) => {
            fed.stop().await;
            Err(e)
        }
    }
}

async fn start_all(opts: &DevOptions, fed: &mut Federation) -> Result<(), DevError> {
    std::fs::create_dir_all(&fed.data_dir).map_err(io_err(&fed.data_dir))?;
    write_default_catalog(&fed.catalog_dir)?;

    let names: Vec<String> = (0..opts.domains).map(domain_name).collect();
    let site_names = |domain: &str| -> Vec<String> {
        (1..=opts.sites_per_domain)
            .map(|n| format!("{domain}-{n}"))
            .collect()
    };
    if !opts.insecure {
        let sites: Vec<(String, String)> = names
            .iter()
            .flat_map(|d| site_names(d).into_iter().map(move |s| (d.clone(), s)))
            .collect();
        fed.tls = Some(super::pki::prepare(&fed.data_dir, &names, &sites)?);
    }
    let tls = fed.tls.clone();
    let (scheme, tls_of) = match &tls {
        Some(_) => ("https", TlsOf(tls.as_ref())),
        None => ("http", TlsOf(None)),
    };
    let mut log_urls = Vec::new();
    for name in &names {
        let config = log_server::Config {
            listen: loopback(),
            data_dir: fed.data_dir.join(name).join("log-server"),
            domain: name.clone(),
            tls: tls_of.domain(name),
            ..Default::default()
        };
        let component = format!("log-server {name}");
        let running = log_server::run(config, fed.token(ComponentKind::LogServer))
            .await
            .map_err(|e| start_err(&component, &e))?;
        log_urls.push(format!("{scheme}://{}", running.addr));
        fed.tasks.push(ComponentTask {
            kind: ComponentKind::LogServer,
            name: component,
            task: running.task,
        });
    }

    let config = maestro::Config {
        listen: loopback(),
        data_dir: fed.data_dir.join("maestro"),
        catalog_dir: fed.catalog_dir.clone(),
        tls: tls_of.maestro(),
        operator_policy: tls.as_ref().map(|t| t.policy.clone()),
        domain_unreachable_after_ms: unreachable_after_ms(opts.domain_heartbeat_interval_ms),
        failover_after_ms: failover_after_ms(opts.domain_heartbeat_interval_ms),
        ..Default::default()
    };
    let running = maestro::run(config, fed.token(ComponentKind::Maestro))
        .await
        .map_err(|e| start_err("maestro", &e))?;
    fed.maestro_url = format!("{scheme}://{}", running.addr);
    fed.cli_settings = super::pki::write_cli_settings(
        &fed.data_dir,
        &fed.maestro_url,
        tls.as_ref().map(|t| &t.operator),
    )?;
    fed.tasks.push(ComponentTask {
        kind: ComponentKind::Maestro,
        name: "maestro".into(),
        task: running.task,
    });

    for (name, log_url) in names.iter().zip(&log_urls) {
        let sites = site_names(name);
        let remote_repo = fed.data_dir.join(name).join("remote.git");
        let signing = super::pki::signing_key(&fed.data_dir, name)?;
        let config = domain_orchestrator::Config {
            domain: name.clone(),
            listen: loopback(),
            advertise: None,
            data_dir: fed.data_dir.join(name).join("orchestrator"),
            git_remote: remote_repo.display().to_string(),
            git_init_remote: true,
            sites: sites.clone(),
            labels: [
                ("region".to_string(), name.clone()),
                ("tier".to_string(), "edge".to_string()),
            ]
            .into(),
            region: name.clone(),
            log_server: log_url.clone(),
            maestro: Some(fed.maestro_url.clone()),
            heartbeat_interval_ms: opts.domain_heartbeat_interval_ms,
            site_unreachable_after_ms: unreachable_after_ms(opts.site_heartbeat_interval_ms),
            tls: tls_of.domain(name),
            signing: domain_orchestrator::signing::SigningSettings {
                keys: vec![signing.private],
                ..Default::default()
            },
            ..Default::default()
        };
        let component = format!("domain {name}");
        let running = domain_orchestrator::run(config, fed.token(ComponentKind::Domain))
            .await
            .map_err(|e| start_err(&component, &e))?;
        fed.tasks.push(ComponentTask {
            kind: ComponentKind::Domain,
            name: component,
            task: running.task,
        });
        fed.domains.push(DevDomain {
            id: name.clone(),
            endpoint: format!("{scheme}://{}", running.addr),
            log_server_url: log_url.clone(),
            remote_repo,
            sites: Vec::new(),
        });
    }

    let launcher = opts
        .launch_helper
        .clone()
        .map_or(site_agent::Launcher::Direct, site_agent::Launcher::helper);
    for d in 0..fed.domains.len() {
        let (domain, log_url, remote) = (
            fed.domains[d].id.clone(),
            fed.domains[d].log_server_url.clone(),
            fed.domains[d].remote_repo.clone(),
        );
        let signing = super::pki::signing_key(&fed.data_dir, &domain)?;
        for n in 1..=opts.sites_per_domain {
            let site = format!("{domain}-{n}");
            let data_dir = fed.data_dir.join(&domain).join("sites").join(&site);
            let config = site_agent::Config {
                domain: domain.clone(),
                site: site.clone(),
                data_dir: data_dir.clone(),
                git_remote: remote.display().to_string(),
                sync_interval_ms: opts.sync_interval_ms,
                noticed_sync_interval_ms: opts.noticed_sync_interval_ms,
                commit_notices: opts.commit_notices,
                log_server: log_url.clone(),
                colony_url: None,
                colony_listen: loopback(),
                heartbeat_interval_ms: opts.site_heartbeat_interval_ms,
                tls: tls_of.site(&site),
                signing: site_agent::gitsync::trust::SigningSettings {
                    keys: vec![signing.public.clone()],
                    ..Default::default()
                },
                ..Default::default()
            };
            let component = format!("site {site}");
            let token = fed.token(ComponentKind::Site);
            let running = site_agent::run_with(config, launcher.clone(), token)
                .await
                .map_err(|e| start_err(&component, &e))?;
            fed.tasks.push(ComponentTask {
                kind: ComponentKind::Site,
                name: component,
                task: running.task,
            });
            fed.domains[d].sites.push(DevSite {
                name: site,
                data_dir,
                colony_addr: running.addr,
            });
        }
    }
    Ok(())
}

/// Each component's TLS settings: from the dev PKI, or `insecure` without one.
#[derive(Clone, Copy)]
struct TlsOf<'a>(Option<&'a DevTls>);

impl TlsOf<'_> {
    fn pick(&self, f: impl Fn(&DevTls) -> Option<&TlsSettings>) -> TlsSettings {
        self.0
            .and_then(f)
            .cloned()
            .unwrap_or_else(TlsSettings::insecure)
    }

    fn maestro(&self) -> TlsSettings {
        self.pick(|t| Some(&t.maestro))
    }

    fn domain(&self, name: &str) -> TlsSettings {
        self.pick(|t| t.domains.get(name))
    }

    fn site(&self, name: &str) -> TlsSettings {
        self.pick(|t| t.sites.get(name))
    }
}

/// What shutting the federation down did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Components that did not stop within [`STOP_GRACE`] (aborted).
    pub timed_out: Vec<String>,
    /// Components whose task panicked.
    pub failed: Vec<String>,
    /// Workload processes stopped after the site agents ended.
    pub workloads_stopped: usize,
    /// Sites whose workloads could not be stopped, with the reason.
    pub workload_errors: Vec<String>,
}

impl Federation {
    /// Settings for a `maestroctl` client of this federation (the `dev` operator with TLS).
    pub fn client_settings(&self) -> crate::settings::Settings {
        crate::settings::Settings {
            maestro: self.maestro_url.clone(),
            tls: self.tls.as_ref().map(|t| t.operator.clone()),
            ..crate::settings::Settings::default()
        }
    }

    /// The token that stops the federation (a child of the one given at start).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Every site's data dir.
    pub fn site_data_dirs(&self) -> Vec<PathBuf> {
        self.domains
            .iter()
            .flat_map(|d| d.sites.iter().map(|s| s.data_dir.clone()))
            .collect()
    }

    fn token(&self, kind: ComponentKind) -> CancellationToken {
        self.kind_tokens
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(|| self.shutdown.clone(), |(_, t)| t.clone())
    }

    /// Waits (up to [`STOP_GRACE`]) for every component after shutdown; aborts stragglers.
    pub async fn join(&mut self) -> StopReport {
        let mut report = StopReport::default();
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        self.join_tasks(|_| true, deadline, &mut report).await;
        report
    }

    async fn join_tasks(
        &mut self,
        select: impl Fn(ComponentKind) -> bool,
        deadline: tokio::time::Instant,
        report: &mut StopReport,
    ) {
        let (chosen, rest): (Vec<_>, Vec<_>) = self.tasks.drain(..).partition(|c| select(c.kind));
        self.tasks = rest;
        for c in chosen {
            let mut task = c.task;
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => report.failed.push(c.name),
                Err(_) => {
                    task.abort();
                    report.timed_out.push(c.name);
                }
            }
        }
    }

    /// Stops the processes the site agents started (the dev federation owns its workloads).
    /// Call after the agents stopped: it opens each agent's database.
    pub async fn stop_workloads(&self, report: &mut StopReport) {
        for dir in self.site_data_dirs() {
            if !dir.join(site_agent::DB_DIR).exists() {
                continue;
            }
            match site_agent::stop_all_instances(&dir).await {
                Ok(n) => report.workloads_stopped += n,
                Err(e) => report
                    .workload_errors
                    .push(format!("{}: {e}", dir.display())),
            }
        }
    }

    /// Stops the components in reverse start order (sites, domains, maestro, log servers), each
    /// kind drained before the next is cancelled, then stops the workloads. Bounded by [`STOP_GRACE`].
    pub async fn stop(&mut self) -> StopReport {
        let mut report = StopReport::default();
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for kind in KINDS.iter().rev() {
            self.token(*kind).cancel();
            self.join_tasks(|k| k == *kind, deadline, &mut report).await;
        }
        self.shutdown.cancel();
        self.join_tasks(|_| true, deadline, &mut report).await;
        self.stop_workloads(&mut report).await;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        let names: Vec<String> = (0..6).map(domain_name).collect();
        assert_eq!(
            names,
            ["north", "south", "east", "west", "domain-5", "domain-6"]
        );
    }

    #[test]
    fn default_catalog_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        write_default_catalog(dir.path()).unwrap();
        let file = dir.path().join("demo-app.yaml");
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("id: demo-app")
        );
        assert!(dir.path().join("gateway-config.yaml").exists());
        std::fs::write(&file, "id: mine\n").unwrap();
        write_default_catalog(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "id: mine\n");
    }
}
