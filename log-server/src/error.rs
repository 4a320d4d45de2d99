//! Errors of the log server library.

/// Why the record store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or storage error.
    #[error("sled: {0}")]
    Sled(sled::Error),
    /// The blocking flush task did not complete.
    #[error("flush task failed: {0}")]
    Flush(String),
    /// Stored bytes did not decode; the database is damaged or from an incompatible version.
    #[error("corrupt record store: {0}")]
    Corrupt(String),
}

/// A sled error, reported as a storage failure when it is one (the store then needs reopening,
/// see `maestro_common::durable`).
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        maestro_common::durable::note_failure(&e);
        Self::Sled(e)
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

/// Why the log server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(#[from] maestro_common::FieldError),
    /// The data directory could not be created.
    #[error("creating data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The record store could not be opened.
    #[error("opening record store: {0}")]
    Store(#[from] StoreError),
    /// The TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] maestro_common::tls::TlsError),
    /// The listen address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
