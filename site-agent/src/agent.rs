//! `run`: wires keys, the colony (embedded or external), the outbox sender, the GitOps sync, the
//! process reconciler, the Docker reconciler (when Docker is enabled) and the status reporter.

use std::net::SocketAddr;
use std::time::Duration;

use colony::ColonyClient;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Error;
use crate::config::{Config, DockerMode};
use crate::context::SiteContext;
use crate::gitsync::{GitMirror, GitSync};
use crate::keys::SiteKeys;
use crate::outbox::{self, Outbox};
use crate::reconciler::ProcessReconciler;
use crate::report::StatusReporter;

/// Directory of the agent's sled database inside the data dir.
pub const DB_DIR: &str = "agent.sled";
/// Directory of the embedded colony's database inside the data dir.
pub const COLONY_DIR: &str = "colony";
/// Directory of the local Git mirror inside the data dir.
pub const GIT_DIR: &str = "git";
/// Directory of the native processes' output inside the data dir.
pub const LOG_DIR: &str = "logs";

/// A started site agent.
#[derive(Debug)]
pub struct Running {
    /// Address of the site's colony (the embedded server's bound address, or the external
    /// colony's resolved address).
    pub addr: SocketAddr,
    /// Ends after shutdown once every loop stopped, the embedded colony stopped and sled is flushed.
    pub task: tokio::task::JoinHandle<()>,
}

fn validate(config: &Config) -> Result<(), Error> {
    maestro_common::names::validate_name("site", &config.site)
        .map_err(|e| Error::Config(e.to_string()))?;
    maestro_common::names::validate_name("domain", &config.domain)
        .map_err(|e| Error::Config(e.to_string()))?;
    if config.git_remote.trim().is_empty() {
        return Err(Error::Config("git_remote: required".into()));
    }
    if config.log_server.trim().is_empty() {
        return Err(Error::Config("log_server: required".into()));
    }
    for (field, v) in [
        ("sync_interval_ms", config.sync_interval_ms),
        ("heartbeat_interval_ms", config.heartbeat_interval_ms),
        (
            "colony_reconcile_interval_ms",
            config.colony_reconcile_interval_ms,
        ),
    ] {
        if v == 0 {
            return Err(Error::Config(format!("{field}: must be greater than 0")));
        }
    }
    Ok(())
}

/// Starts the site agent; returns once the colony is serving and every loop runs. Cancelling
/// `shutdown` stops the agent (never its workloads).
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    validate(&config)?;
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Error::io(format!("creating {}", data_dir.display()), e))?;
    let embedded = config.colony_url.is_none();
    let docker = docker_enabled(&config).await?;
    let keys = SiteKeys::load_or_create_with(&data_dir, embedded, docker)?;
    let colony_shutdown = CancellationToken::new();
    let (client, addr, server) = match &config.colony_url {
        None => {
            let server_id = keys
                .server_owner
                .as_ref()
                .map(colony::PrivateKey::id)
                .unwrap_or_default();
            let mut server_config = colony::ServerConfig::new(
                data_dir.join(COLONY_DIR),
                server_id,
                config.colony_listen,
            );
            server_config.reconcile_interval =
                Duration::from_millis(config.colony_reconcile_interval_ms);
            let server = start_colony(server_config, &colony_shutdown).await?;
            (
                ColonyClient::from_addr(server.addr),
                server.addr,
                Some(server),
            )
        }
        Some(url) => (ColonyClient::new(url)?, resolve(url).await, None),
    };
    let bootstrapped = async {
        crate::bootstrap::bootstrap(&client, &keys, &config.site).await?;
        if docker {
            crate::bootstrap::bootstrap_docker(&client, &keys, &config.site).await?;
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = bootstrapped.await {
        stop_colony(&colony_shutdown, server).await;
        return Err(e);
    }
    let db = match open_db(&data_dir.join(DB_DIR)).await {
        Ok(db) => db,
        Err(e) => {
            stop_colony(&colony_shutdown, server).await;
            return Err(e);
        }
    };
    // The Docker reconciler gets its own child token so a failed start below can stop it.
    let docker_shutdown = shutdown.child_token();
    let docker_task = if docker {
        match start_docker(&config, client.clone(), &keys, &docker_shutdown).await {
            Ok(task) => Some(task),
            Err(e) => {
                stop_colony(&colony_shutdown, server).await;
                return Err(e);
            }
        }
    } else {
        None
    };
    let started = start_loops(&config, client, keys, db.clone(), &shutdown);
    let tracker = match started {
        Ok(t) => t,
        Err(e) => {
            docker_shutdown.cancel();
            if let Some(task) = docker_task {
                let _ = task.await;
            }
            stop_colony(&colony_shutdown, server).await;
            return Err(e);
        }
    };
    if let Some(task) = docker_task {
        tracker.spawn(async move {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "docker reconciler task failed");
            }
        });
    }
    tracing::info!(site = %config.site, domain = %config.domain, colony = %addr, docker, "site agent running");
    let task = tokio::spawn(async move {
        shutdown.cancelled().await;
        tracker.close();
        tracker.wait().await;
        if let Err(e) = maestro_common::durable::flush(&db).await {
            tracing::warn!(error = %e, "final flush of the agent database failed");
        }
        drop(db);
        stop_colony(&colony_shutdown, server).await;
    });
    Ok(Running { addr, task })
}

/// Whether the Docker reconciler runs, per the `docker` key: `auto` probes the engine once at
/// start, `on` fails the start when the engine does not answer.
async fn docker_enabled(config: &Config) -> Result<bool, Error> {
    let socket = &config.docker_socket;
    match config.docker {
        DockerMode::Off => Ok(false),
        DockerMode::Auto => {
            let up = docker_reconciler::docker_available(socket).await;
            if up {
                tracing::info!(socket = %socket.display(), "Docker Engine answers; running the Docker reconciler");
            } else {
                tracing::info!(socket = %socket.display(), "no Docker Engine answers; the Docker reconciler stays off");
            }
            Ok(up)
        }
        DockerMode::On if docker_reconciler::docker_available(socket).await => Ok(true),
        DockerMode::On => Err(Error::Docker(format!(
            "docker is \"on\" but no Docker Engine answers on {}",
            socket.display()
        ))),
    }
}

/// Starts the Docker reconciler executor (location = site); it stops with `shutdown`.
async fn start_docker(
    config: &Config,
    client: ColonyClient,
    keys: &SiteKeys,
    shutdown: &CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let key = keys
        .docker_reconciler
        .clone()
        .ok_or_else(|| Error::Docker("no docker_reconciler key".into()))?;
    let mut docker = docker_reconciler::DockerReconcilerConfig::new(client, &config.site, key);
    docker.location = Some(config.site.clone());
    docker.docker_socket = config.docker_socket.clone();
    docker_reconciler::run(docker, shutdown.clone())
        .await
        .map_err(|e| Error::Docker(e.to_string()))
}

/// How long opening a sled database retries while a just-stopped instance still holds its lock
/// (sled finishes in-flight writes on background threads after the last handle is dropped).
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens the agent database at `path`, waiting for a previous holder in this process to let go.
pub(crate) async fn open_db(path: &std::path::Path) -> Result<sled::Db, Error> {
    let path = path.to_path_buf();
    match tokio::task::spawn_blocking(move || maestro_common::durable::open(&path)).await {
        Ok(db) => Ok(db?),
        Err(join) => Err(Error::Runtime(format!(
            "opening the agent database: {join}"
        ))),
    }
}

async fn start_colony(
    config: colony::ServerConfig,
    shutdown: &CancellationToken,
) -> Result<colony::RunningServer, Error> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        match colony::start(config.clone(), shutdown.clone()).await {
            Err(colony::ServerError::Storage { source, .. })
                if maestro_common::durable::is_lock_error(&source)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other.map_err(|e| Error::ColonyServer(e.to_string())),
        }
    }
}

async fn stop_colony(token: &CancellationToken, server: Option<colony::RunningServer>) {
    token.cancel();
    if let Some(s) = server {
        s.stopped().await;
    }
}

fn start_loops(
    config: &Config,
    client: ColonyClient,
    keys: SiteKeys,
    db: sled::Db,
    shutdown: &CancellationToken,
) -> Result<TaskTracker, Error> {
    let tracker = TaskTracker::new();
    let outbox =
        Outbox::open_bounded(&db, &config.domain, &config.site, config.outbox_max_records)?;
    let ctx = SiteContext {
        client,
        keys,
        domain: config.domain.clone(),
        site: config.site.clone(),
        colony: config.site.clone(),
        outbox: outbox.clone(),
        db,
        report_poke: std::sync::Arc::default(),
    };
    tracker.spawn(outbox::run_sender(
        outbox,
        config.log_server.clone(),
        shutdown.clone(),
    ));
    let mirror = GitMirror::new(
        &config.data_dir.join(GIT_DIR),
        &config.git_remote,
        &config.branch,
    );
    let sync = GitSync::new(ctx.clone(), mirror)?;
    let interval = Duration::from_millis(config.sync_interval_ms);
    let recheck = Duration::from_millis(config.colony_reconcile_interval_ms);
    tracker.spawn(sync.run(interval, recheck, shutdown.clone()));
    ProcessReconciler::start(
        ctx.clone(),
        &config.data_dir.join(LOG_DIR),
        shutdown.clone(),
        &tracker,
    )?;
    let reporter = StatusReporter::new(ctx, Duration::from_millis(config.heartbeat_interval_ms))?;
    tracker.spawn(reporter.run(shutdown.clone()));
    Ok(tracker)
}

/// Best-effort socket address of an external colony URL (unspecified when it does not resolve).
async fn resolve(url: &str) -> SocketAddr {
    let trimmed = url.trim().trim_end_matches('/');
    let host_port = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let host_port = host_port.split('/').next().unwrap_or_default();
    let with_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_string()
    } else {
        format!("{host_port}:{}", colony::server::DEFAULT_PORT)
    };
    match tokio::net::lookup_host(with_port).await {
        Ok(mut addrs) => addrs
            .next()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        Err(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}
