//! The crate error.

use colony::ColonyError;

use crate::runtime::RuntimeError;

/// Errors of the Docker reconciler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the colony failed.
    #[error("colony: {0}")]
    Colony(#[from] ColonyError),
    /// The container runtime failed.
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    /// A blueprint spec is invalid (the message names the field).
    #[error("invalid spec: {0}")]
    Spec(String),
    /// A process asked for something this reconciler does not handle.
    #[error("{0}")]
    Unsupported(String),
    /// Convergence finished but some steps failed (one message per failure, `; `-joined).
    #[error("{0}")]
    Failed(String),
}
