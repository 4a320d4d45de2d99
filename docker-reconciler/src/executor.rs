//! The executor: configuration, start-up and the assign loop (long-poll, handle, close).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use colony::model::{Process, ProcessState};
use colony::{ColonyClient, PrivateKey};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::docker::{DEFAULT_SOCKET, DockerOptions, DockerRuntime, RestartPolicy};
use crate::error::Error;
use crate::reconciler::{DockerReconciler, Settings};
use crate::spec::EXECUTOR_TYPE;

/// Long-poll timeout of one assign, in seconds.
const ASSIGN_TIMEOUT_SECS: i64 = 5;
/// Shortest and longest delay after a failed assign.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Configuration of the Docker reconciler executor. The executor must already be registered in
/// the colony (type `executor_type`, key `executor_key`) and approved by the colony owner.
#[derive(Debug, Clone)]
pub struct DockerReconcilerConfig {
    /// Client of the colony server.
    pub client: ColonyClient,
    /// Colony name.
    pub colony: String,
    /// The executor's key (its identity in the colony).
    pub executor_key: PrivateKey,
    /// Executor type (`docker-reconciler`), for logs and registration by the caller.
    pub executor_type: String,
    /// Only blueprints of this location (or of none) are converged; None for all.
    pub location: Option<String>,
    /// Docker Engine socket (default `/var/run/docker.sock`).
    pub docker_socket: PathBuf,
    /// Network mode of containers whose spec sets none (default `host`).
    pub default_network_mode: String,
    /// Pull images missing locally (default false: a missing image is an error).
    pub allow_pull: bool,
    /// Grace period between SIGTERM and SIGKILL when stopping a container (default 10 s).
    pub stop_grace: Duration,
    /// Restart policy of created containers (default `unless-stopped`).
    pub restart_policy: RestartPolicy,
}

impl DockerReconcilerConfig {
    /// A config with the defaults for colony `colony`, acting with `executor_key`.
    pub fn new(client: ColonyClient, colony: &str, executor_key: PrivateKey) -> Self {
        Self {
            client,
            colony: colony.to_string(),
            executor_key,
            executor_type: EXECUTOR_TYPE.to_string(),
            location: None,
            docker_socket: PathBuf::from(DEFAULT_SOCKET),
            default_network_mode: "host".to_string(),
            allow_pull: false,
            stop_grace: Duration::from_secs(10),
            restart_policy: RestartPolicy::UnlessStopped,
        }
    }

    /// Connects to the Docker Engine and builds the reconciler (without starting its loop).
    pub async fn build(self) -> Result<DockerReconciler, Error> {
        let runtime = DockerRuntime::connect(DockerOptions {
            socket: self.docker_socket,
            allow_pull: self.allow_pull,
            stop_grace: self.stop_grace,
            restart_policy: self.restart_policy,
            api_timeout: self.stop_grace + Duration::from_secs(110),
        })
        .await?;
        Ok(DockerReconciler::new(
            self.client,
            self.executor_key,
            Arc::new(runtime),
            Settings {
                colony: self.colony,
                location: self.location,
                default_network_mode: self.default_network_mode,
            },
        ))
    }
}

/// Connects to the Docker Engine (failing when it does not answer) and starts the executor loop:
/// assign (long-poll 5 s), handle `reconcile` / `cleanup`, close the process successful or
/// failed, until `shutdown`. A started process is finished and closed before the loop ends.
pub async fn run(
    config: DockerReconcilerConfig,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    let reconciler = config.build().await?;
    Ok(reconciler.spawn(shutdown))
}

impl DockerReconciler {
    /// Starts the executor loop of this reconciler on the current runtime.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(executor_loop(self, shutdown))
    }
}

async fn executor_loop(reconciler: DockerReconciler, shutdown: CancellationToken) {
    let colony = reconciler.settings().colony.clone();
    tracing::info!(colony = %colony, "docker reconciler started");
    resume_assigned(&reconciler).await;
    let mut delay = BACKOFF_MIN;
    loop {
        let assigned = tokio::select! {
            () = shutdown.cancelled() => break,
            r = reconciler.client().assign(reconciler.key(), &colony, ASSIGN_TIMEOUT_SECS) => r,
        };
        match assigned {
            Ok(Some(process)) => {
                delay = BACKOFF_MIN;
                // Not raced against shutdown: a started convergence finishes and is closed.
                handle_and_close(&reconciler, &process).await;
            }
            Ok(None) => delay = BACKOFF_MIN,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "assign failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(BACKOFF_MAX);
            }
        }
    }
    tracing::info!(colony = %colony, "docker reconciler stopped");
}

/// Handles processes assigned to this executor whose reply never reached it (assigned while
/// it was stopping); they would otherwise stay running until their deadline.
async fn resume_assigned(reconciler: &DockerReconciler) {
    let me = reconciler.key().id();
    match reconciler
        .client()
        .get_processes(
            reconciler.key(),
            &reconciler.settings().colony,
            ProcessState::Running,
            100,
        )
        .await
    {
        Ok(list) => {
            for p in list.iter().filter(|p| p.assigned_executor_id == me) {
                tracing::info!(process = %p.process_id, function = %p.spec.func_name, "resuming a process assigned before a restart");
                handle_and_close(reconciler, p).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing running processes failed"),
    }
}

async fn handle_and_close(reconciler: &DockerReconciler, process: &Process) {
    let pid = process.process_id.as_str();
    let key = reconciler.key();
    let closed = match reconciler.handle(process).await {
        Ok(actions) => {
            let summary = if actions.is_empty() {
                "no changes".to_string()
            } else {
                actions.join("; ")
            };
            reconciler
                .client()
                .close_successful(key, pid, vec![summary])
                .await
        }
        Err(e) => {
            let message = format!("{} failed: {e}", process.spec.func_name);
            tracing::warn!(process = pid, "{message}");
            let _ = reconciler.client().add_log(key, pid, &message).await;
            reconciler
                .client()
                .close_failed(key, pid, vec![e.to_string()])
                .await
        }
    };
    if let Err(e) = closed {
        tracing::warn!(error = %e, process = pid, "closing process failed");
    }
}
