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
    /// The audit signing key could not be read or created.
    #[error("audit signing key: {0}")]
    AuditKey(String),
}

impl Error {
    /// A Git setup failure at start-up: unusable transport settings (a missing CA bundle, key
    /// or password file) are a configuration error, the rest a Git error.
    pub fn from_git_setup(e: crate::git::GitError) -> Self {
        match e {
            crate::git::GitError::Settings(t) => Error::Config(format!("git: {t}")),
            other => Error::Git(other),
        }
    }
}
