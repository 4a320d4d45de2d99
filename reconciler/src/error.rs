//! Errors of the framework and of the built-in kinds.

/// Why a convergence, a step or a start failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings of a reconciler are unusable.
    #[error("invalid settings: {0}")]
    Config(String),
    /// A call to the colony failed.
    #[error("colony: {0}")]
    Colony(#[from] colony::ColonyError),
    /// The local sled database failed.
    #[error("local store: {0}")]
    Store(sled::Error),
    /// A file or directory operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Persisted data could not be decoded.
    #[error("corrupt local data: {0}")]
    Corrupt(String),
    /// The runtime (processes, files, containers) failed.
    #[error("runtime: {0}")]
    Runtime(String),
    /// A process asked for something this reconciler does not handle.
    #[error("{0}")]
    Unsupported(String),
    /// The blueprint's spec is invalid (the message names the field).
    #[error("invalid spec: {0}")]
    Spec(String),
    /// The convergence ran but some steps failed (one message per failure, `; `-joined).
    #[error("{0}")]
    Failed(String),
}

/// A sled error, reported as a storage failure when it is one (the store then needs reopening,
/// see `maestro_common::durable`).
impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        maestro_common::durable::note_failure(&e);
        Self::Store(e)
    }
}

impl Error {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
