//! Running one component as a process: the wiring every thin binary (`maestro`,
//! `maestro-domain`, `maestro-log-server`, `maestro-site`) and `maestroctl run` share.
//!
//! A component's config type implements [`Service`]; [`main`] then loads and validates it
//! ([`crate::config`]), initialises telemetry, roots shutdown in SIGINT/SIGTERM, starts the
//! component, prints `<name> serving on <addr>` on stdout and waits until it has drained.
//! Invalid configuration exits with [`EXIT_CONFIG`] and one `error: ...` line naming the key.

use crate::config::{self, ConfigError, EXIT_CONFIG, Flags, Sources, Validate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a component may take to stop after shutdown was requested before the process gives
/// up on it (a second signal exits at once, see [`crate::shutdown`]).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// The flags every component binary takes; a binary flattens them into its own arguments.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Config file (TOML, YAML or JSON, by extension).
    #[arg(long, env = "MAESTRO_CONFIG_FILE", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (key `data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl ServiceArgs {
    /// The whole life of component `S` (see [`main`]) with these flags and the binary's own
    /// `flags` as the last configuration layer.
    pub fn run<S: Service>(self, flags: Flags) -> ExitCode {
        main::<S>(Sources::from_process(
            self.config,
            flags.set("data_dir", self.data_dir),
        ))
    }
}

/// A component's configuration that knows how to start the component.
pub trait Service:
    DeserializeOwned + Serialize + Default + Validate + Clone + Send + 'static
{
    /// The component in messages, e.g. `log server`.
    const NAME: &'static str;
    /// The telemetry service name, e.g. `log-server`.
    const SERVICE: &'static str;

    /// Where the component keeps its state, if anywhere: after a storage failure the launcher
    /// waits for free space there before it restarts the component.
    fn data_dir(&self) -> Option<&std::path::Path> {
        None
    }

    /// Where Prometheus scrapes the process's metrics, if anywhere (see
    /// [`crate::telemetry::scrape`]).
    fn metrics_listen(&self) -> Option<SocketAddr> {
        None
    }

    /// Where the plaintext health probe endpoint listens, if anywhere (see
    /// [`crate::grpc::probe`]).
    fn health_listen(&self) -> Option<SocketAddr> {
        None
    }

    /// Starts the component; returns once it serves. It stops when `shutdown` is cancelled.
    fn start(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = Result<Started, StartError>> + Send;
}

/// A started component.
#[derive(Debug)]
pub struct Started {
    /// The address it serves on.
    pub addr: SocketAddr,
    /// Ends when the component has stopped and released its resources.
    pub task: JoinHandle<()>,
}

impl Started {
    /// What a component's `run` returned, as a start: its address and task, or its error — a
    /// configuration error (per `is_config`) exits 64, any other 1.
    pub fn from_run<E: std::fmt::Display>(
        run: Result<(SocketAddr, JoinHandle<()>), E>,
        is_config: impl FnOnce(&E) -> bool,
    ) -> Result<Started, StartError> {
        match run {
            Ok((addr, task)) => Ok(Started { addr, task }),
            Err(e) if is_config(&e) => Err(StartError::Config(e.to_string())),
            Err(e) => Err(StartError::Failed(e.to_string())),
        }
    }
}

/// Why a component did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration cannot work (found while starting, e.g. a Git remote that is no
    /// repository); exit status 64.
    #[error("{0}")]
    Config(String),
    /// Anything else (a port in use, an unreadable data directory); exit status 1.
    #[error("{0}")]
    Failed(String),
}

/// Why running a component ended in failure.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The configuration did not load or validate.
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    /// The component rejected its configuration while starting.
    #[error("invalid config: {0}")]
    Rejected(String),
    /// The component failed to start or stopped on its own.
    #[error("{0}")]
    Failed(String),
}

impl LaunchError {
    /// The process exit status: 64 for configuration, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            LaunchError::Config(_) | LaunchError::Rejected(_) => EXIT_CONFIG as u8,
            LaunchError::Failed(_) => 1,
        }
    }
}

/// Loads and validates the config of `S`.
pub fn load<S: Service>(sources: &Sources) -> Result<S, ConfigError> {
    config::load_validated(sources)
}

/// Runs `config`'s component in the current runtime: telemetry (OTLP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set), a root token cancelled by SIGINT/SIGTERM, then
/// [`serve_until`].
pub async fn serve<S: Service>(config: S) -> Result<(), LaunchError> {
    let otlp = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let _telemetry = crate::telemetry::init(S::SERVICE, otlp.as_deref());
    let shutdown = crate::shutdown::on_signals();
    serve_until(config, shutdown).await
}

/// Starts the component, announces `<name> serving on <addr>` on stdout and waits for it to
/// stop; an end before `shutdown` was cancelled is a failure, and so is a drain longer than
/// [`DRAIN_LIMIT`].
///
/// A storage failure ([`crate::durable::storage_failures`]: a full disk, an I/O error) leaves
/// the component's store refusing every write until it is reopened, so the component is
/// stopped and started again, with a growing pause ([`RESTART_MIN`] to [`RESTART_MAX`]) while
/// it keeps failing — also when it cannot start (the disk is still full). Nothing it
/// acknowledged is lost: it acknowledged only what was flushed.
pub async fn serve_until<S: Service>(
    config: S,
    shutdown: CancellationToken,
) -> Result<(), LaunchError> {
    let name = S::NAME;
    let mut failures = crate::durable::storage_failures();
    let mut restarts = crate::backoff::Backoff::new(RESTART_MIN, RESTART_MAX);
    let mut announced = false;
    if let Some(addr) = config.metrics_listen() {
        crate::telemetry::scrape::serve(addr, shutdown.clone())
            .await
            .map_err(|e| LaunchError::Failed(format!("metrics_listen: binding {addr}: {e}")))?;
    }
    let probe = match config.health_listen() {
        Some(addr) => Some(
            crate::grpc::probe::Probe::start(addr, shutdown.clone())
                .await
                .map_err(|e| LaunchError::Failed(format!("health_listen: binding {addr}: {e}")))?,
        ),
        None => None,
    };
    let report = async |yes: bool| {
        if let Some(p) = &probe {
            p.serving(yes).await;
        }
    };
    loop {
        failures.borrow_and_update();
        let run = shutdown.child_token();
        let started = match config.clone().start(run.clone()).await {
            Ok(started) => started,
            Err(e) if announced => {
                tracing::error!(error = %e, "restarting {name} failed; trying again");
                if restarts.wait(&shutdown).await {
                    return Ok(());
                }
                continue;
            }
            Err(StartError::Config(m)) => {
                return Err(LaunchError::Rejected(format!("{name}: {m}")));
            }
            Err(StartError::Failed(m)) => {
                return Err(LaunchError::Failed(format!("starting {name}: {m}")));
            }
        };
        let addr = started.addr;
        if !announced {
            tracing::info!(%addr, "{name} running; SIGINT/SIGTERM to stop");
            announce(&format!("{name} serving on {addr}\n"));
            announced = true;
        } else {
            tracing::info!(%addr, "{name} restarted with its store reopened");
        }
        report(true).await;
        let since = std::time::Instant::now();
        let mut task = started.task;
        tokio::select! {
            joined = &mut task => return ended(name, joined, &shutdown),
            () = shutdown.cancelled() => {
                report(false).await;
                return drain(name, task, &shutdown).await;
            }
            _ = failures.changed() => {}
        }
        report(false).await;
        tracing::error!("{name}: its store failed; restarting it to reopen the store");
        // On a full disk the component could not reopen its store: it keeps answering (a
        // store error is RESOURCE_EXHAUSTED, see `durable::status`) until there is room again.
        if let Some(dir) = config.data_dir() {
            tokio::select! {
                joined = &mut task => return ended(name, joined, &shutdown),
                () = shutdown.cancelled() => return drain(name, task, &shutdown).await,
                () = room_in(dir) => {}
            }
        }
        run.cancel();
        if tokio::time::timeout(DRAIN_LIMIT, &mut task).await.is_err() {
            task.abort();
            return Err(LaunchError::Failed(format!(
                "{name} did not stop within {}s after its store failed",
                DRAIN_LIMIT.as_secs()
            )));
        }
        if since.elapsed() > RESTART_MAX {
            restarts.reset();
        }
        if restarts.wait(&shutdown).await {
            return Ok(());
        }
    }
}

/// Free space a component's data directory needs before the component is restarted after a
/// storage failure.
pub const RESTART_ROOM_BYTES: u64 = 8 << 20;

/// How often a full disk is checked for room.
const ROOM_POLL: Duration = Duration::from_secs(1);

/// Returns once the file system of `dir` has [`RESTART_ROOM_BYTES`] free for an unprivileged
/// writer (at once if that cannot be read: the restart then tells).
async fn room_in(dir: &std::path::Path) {
    let mut said = false;
    loop {
        match nix::sys::statvfs::statvfs(dir) {
            Ok(fs) => {
                let free = fs.blocks_available().saturating_mul(fs.fragment_size());
                if free >= RESTART_ROOM_BYTES {
                    return;
                }
                if !said {
                    tracing::error!(
                        dir = %dir.display(),
                        free_bytes = free,
                        "the disk is full: the store is restarted once there is room"
                    );
                    said = true;
                }
            }
            Err(_) => return,
        }
        tokio::time::sleep(ROOM_POLL).await;
    }
}

/// Shortest pause before a component whose store failed is started again.
pub const RESTART_MIN: Duration = Duration::from_millis(500);
/// Longest pause between restarts while the store keeps failing.
pub const RESTART_MAX: Duration = Duration::from_secs(15);

/// Waits for a component asked to stop, at most [`DRAIN_LIMIT`].
async fn drain(
    name: &str,
    mut task: JoinHandle<()>,
    shutdown: &CancellationToken,
) -> Result<(), LaunchError> {
    match tokio::time::timeout(DRAIN_LIMIT, &mut task).await {
        Ok(joined) => ended(name, joined, shutdown),
        Err(_) => {
            task.abort();
            Err(LaunchError::Failed(format!(
                "{name} did not stop within {}s of the shutdown request",
                DRAIN_LIMIT.as_secs()
            )))
        }
    }
}

/// How a component's task ending is reported: a failure unless `shutdown` asked for it.
fn ended(
    name: &str,
    joined: Result<(), tokio::task::JoinError>,
    shutdown: &CancellationToken,
) -> Result<(), LaunchError> {
    if let Err(e) = joined {
        return Err(LaunchError::Failed(format!("{name} task failed: {e}")));
    }
    if !shutdown.is_cancelled() {
        return Err(LaunchError::Failed(format!(
            "{name} stopped unexpectedly (see the log above)"
        )));
    }
    tracing::info!("{name} stopped");
    Ok(())
}

/// A whole `main` for a component: builds the runtime, loads `sources`, serves; every failure
/// is one `error: ...` line on stderr and its exit status.
pub fn main<S: Service>(sources: Sources) -> ExitCode {
    let config = match load::<S>(&sources) {
        Ok(c) => c,
        Err(e) => return report(&LaunchError::Config(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(&LaunchError::Failed(format!(
                "starting the async runtime: {e}"
            )));
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// Prints `error: <e>` as one line on stderr and returns its exit status.
pub fn report(e: &LaunchError) -> ExitCode {
    let text = e.to_string();
    let line: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    eprintln!("error: {}", line.join("; "));
    ExitCode::from(e.exit_code())
}

/// Writes to stdout, ignoring a closed pipe (the caller may not read it).
fn announce(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests;
