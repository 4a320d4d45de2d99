//! Errors returned by [`crate::ColonyClient`].

use crate::envelope::EnvelopeError;

/// Errors of a ColonyOS call.
#[derive(Debug, thiserror::Error)]
pub enum ColonyError {
    /// The server answered with an error reply `{status, message}`.
    #[error("colony API error {status}: {message}")]
    Api {
        /// HTTP status carried by the error payload.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The request could not be sent or the reply could not be read.
    #[error("transport error: {0}")]
    Transport(String),
    /// The reply was not a valid envelope or its payload did not decode.
    #[error("cannot decode reply (HTTP {http_status}): {reason}")]
    Decode {
        /// HTTP status of the reply.
        http_status: u16,
        /// What was wrong.
        reason: String,
    },
    /// The request could not be encoded.
    #[error("cannot encode request: {0}")]
    Encode(#[from] EnvelopeError),
    /// The TLS settings (CA certificates) are not usable.
    #[error("TLS configuration error: {0}")]
    Tls(String),
    /// The server URL is not valid.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

impl ColonyError {
    /// The API status when this is an [`ColonyError::Api`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
