//! Running the Docker reconciler on its own: configuration, connection to the Docker Engine and
//! the framework's executor loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use colony::{ColonyClient, PrivateKey};
use reconciler::{DiscardRecorder, Driver, Recorder, Target, executor, executor_name};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::docker::{DEFAULT_SOCKET, DockerOptions, DockerRuntime, RestartPolicy};
use crate::reconcile::{DockerReconciler, Settings};
use crate::runtime::RuntimeError;
use crate::spec::EXECUTOR_TYPE;

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
    /// Where log lines go besides tracing (default: nowhere).
    pub recorder: Arc<dyn Recorder>,
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
            recorder: Arc::new(DiscardRecorder),
        }
    }

    /// Connects to the Docker Engine and builds the driver (without starting its loop); a wait
    /// for a new container's health ends when `stopping` is cancelled.
    pub async fn build(
        self,
        stopping: &CancellationToken,
    ) -> Result<Driver<DockerReconciler>, RuntimeError> {
        let runtime = DockerRuntime::connect(DockerOptions {
            socket: self.docker_socket,
            allow_pull: self.allow_pull,
            stop_grace: self.stop_grace,
            restart_policy: self.restart_policy,
            api_timeout: self.stop_grace + Duration::from_secs(110),
        })
        .await?;
        let reconciler = DockerReconciler::new(
            Arc::new(runtime),
            Settings {
                colony: self.colony.clone(),
                default_network_mode: self.default_network_mode,
            },
            stopping.clone(),
        );
        let source = executor_name(
            &self.executor_type,
            self.location.as_deref().unwrap_or(&self.colony),
        );
        let target = Target {
            client: self.client,
            key: self.executor_key,
            colony: self.colony,
            location: self.location,
            source,
        };
        Ok(Driver::new(reconciler, target, self.recorder))
    }
}

/// Connects to the Docker Engine (failing when it does not answer) and starts the executor loop
/// until `shutdown`. A started process is finished and closed before the loop ends.
pub async fn run(
    config: DockerReconcilerConfig,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, RuntimeError> {
    let driver = config.build(&shutdown).await?;
    Ok(tokio::spawn(executor::run(driver, shutdown)))
}
