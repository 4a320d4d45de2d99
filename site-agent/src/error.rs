//! Errors of the site agent.

/// Why the site agent could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(String),
    /// An argument is unusable (the error names it).
    #[error("{0}")]
    Invalid(#[from] maestro_common::FieldError),
    /// The TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] maestro_common::tls::TlsError),
    /// The local sled database failed.
    #[error("local store: {0}")]
    Store(sled::Error),
    /// A sled transaction failed.
    #[error("local store transaction: {0}")]
    Transaction(String),
    /// A file or directory operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A Git operation failed.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// A call to the colony failed.
    #[error("colony: {0}")]
    Colony(#[from] colony::ColonyError),
    /// The embedded colony server could not start.
    #[error("embedded colony: {0}")]
    ColonyServer(String),
    /// Persisted data could not be decoded.
    #[error("corrupt local data: {0}")]
    Corrupt(String),
    /// A native process could not be started or stopped.
    #[error("process runtime: {0}")]
    Runtime(String),
    /// A reconciler could not start (e.g. `reconcilers.docker.mode = "on"` without a Docker
    /// Engine) or failed.
    #[error("reconciler: {0}")]
    Reconciler(#[from] reconciler::Error),
    /// The log server endpoint is unusable.
    #[error("log server endpoint: {0}")]
    Endpoint(#[from] tonic::transport::Error),
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

impl From<sled::transaction::TransactionError<Error>> for Error {
    fn from(e: sled::transaction::TransactionError<Error>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => Error::Store(e),
        }
    }
}
