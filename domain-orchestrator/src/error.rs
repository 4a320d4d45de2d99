//! Why the domain orchestrator could not start.

/// A startup failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(String),
    /// The data directory could not be prepared.
    #[error("data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sled database could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The Git repository could not be prepared.
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    /// The TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] maestro_common::tls::TlsError),
    /// The listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
