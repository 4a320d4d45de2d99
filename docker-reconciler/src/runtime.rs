//! The container runtime seam: what convergence needs from Docker, so the logic can run against
//! the in-memory [`crate::FakeRuntime`] in unit tests and against a real engine otherwise.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::labels;
use crate::spec::DesiredContainer;

/// Errors of a container runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The image is not present locally and pulling is not allowed (or failed).
    #[error("image {image} is not present locally: {reason}")]
    ImageMissing {
        /// The image reference.
        image: String,
        /// Why it could not be made available.
        reason: String,
    },
    /// No such container.
    #[error("container {0} not found")]
    NotFound(String),
    /// The engine refused or failed the call.
    #[error("docker: {0}")]
    Engine(String),
}

/// State of a container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by the engine.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead (failed removal or similar).
    Dead,
    /// Something else.
    Unknown(String),
}

impl ContainerState {
    /// Parses the engine's state word.
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            other => Self::Unknown(other.to_string()),
        }
    }

    /// The engine's state word.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown(s) => s,
        }
    }
}

/// A container's health as the engine reports it (containers without a health check have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not yet probed successfully, within its start period or retries.
    Starting,
    /// The last probe passed.
    Healthy,
    /// `retries` probes in a row failed.
    Unhealthy,
}

impl Health {
    /// Reads the health from the engine's status line (`Up 3 seconds (health: starting)`,
    /// `... (healthy)`, `... (unhealthy)`), as the container list reports it.
    pub fn from_status_line(status: &str) -> Option<Self> {
        if status.contains("(health: starting)") {
            Some(Self::Starting)
        } else if status.contains("(unhealthy)") {
            Some(Self::Unhealthy)
        } else if status.contains("(healthy)") {
            Some(Self::Healthy)
        } else {
            None
        }
    }

    /// The engine's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A container as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    /// Container id.
    pub id: String,
    /// Container name (without the leading `/`).
    pub name: String,
    /// Image reference it was created from.
    pub image: String,
    /// State.
    pub state: ContainerState,
    /// Human-readable status, e.g. `Exited (137) 3 seconds ago`.
    pub status: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Health, when the container has a health check.
    pub health: Option<Health>,
    /// Output of the last health probe (only from [`ContainerRuntime::inspect`]).
    pub health_log: String,
}

impl ObservedContainer {
    /// The `colonies.generation` label, if present and numeric.
    pub fn generation(&self) -> Option<i64> {
        self.labels.get(labels::GENERATION)?.parse().ok()
    }

    /// The `colonies.blueprint` label.
    pub fn blueprint(&self) -> Option<&str> {
        self.labels.get(labels::BLUEPRINT).map(String::as_str)
    }

    /// The label `key`, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }

    /// True when it has a health check that has not passed (yet): it counts as unavailable.
    pub fn is_unready(&self) -> bool {
        matches!(self.health, Some(Health::Starting | Health::Unhealthy))
    }

    /// True when running (or paused/restarting: the engine still holds it up).
    pub fn is_up(&self) -> bool {
        matches!(
            self.state,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        )
    }
}

/// What convergence needs from a container engine. Every call is idempotent where it can be:
/// removing a missing container succeeds.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + std::fmt::Debug + 'static {
    /// Managed containers (`colonies.managed=true`) of `colony`, of one blueprint when given,
    /// in any state.
    async fn list_managed(
        &self,
        colony: &str,
        blueprint: Option<&str>,
    ) -> Result<Vec<ObservedContainer>, RuntimeError>;

    /// Creates the container with its labels and starts it; returns its id.
    async fn create_and_start(&self, desired: &DesiredContainer) -> Result<String, RuntimeError>;

    /// Starts an existing (exited or created) container.
    async fn start(&self, id: &str) -> Result<(), RuntimeError>;

    /// Stops a container (SIGTERM, then SIGKILL after the grace period) and removes it;
    /// Ok when it is already gone.
    async fn stop_and_remove(&self, id: &str) -> Result<(), RuntimeError>;

    /// The container `id`, or None when it does not exist.
    async fn inspect(&self, id: &str) -> Result<Option<ObservedContainer>, RuntimeError>;

    /// The last `lines` lines of the container's output (stdout and stderr).
    async fn logs_tail(&self, id: &str, lines: usize) -> Result<Vec<String>, RuntimeError>;
}
