//! Why a remote's settings cannot be used.

/// A setting of the Git transport that cannot be used (found when [`crate::RemoteAccess`] is
/// built, so a component fails at start-up rather than at its first fetch).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A file named in the settings could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file named in the settings is unusable (too large, empty, not PEM).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The environment variable named by `git.password_env` is not set (its value is never shown).
    #[error("environment variable {name} (git.password_env) is not set or not UTF-8")]
    MissingEnv {
        /// The variable's name.
        name: String,
    },
    /// The TLS client could not be built.
    #[error("TLS client: {0}")]
    Tls(String),
    /// libgit2 refused to register a transport.
    #[error("registering the Git transports: {0}")]
    Register(String),
}
