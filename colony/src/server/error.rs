//! The one error type of server handlers: an HTTP status and a message, sent as an error reply.

use crate::envelope::RpcReply;

/// A failed request: becomes an error reply whose HTTP status equals `status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Message for the caller.
    pub message: String,
}

impl ApiError {
    /// 400: the request is malformed or violates a rule.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 403: the caller lacks the required role.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }

    /// 404: the object does not exist (or nothing is assignable).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    /// 409: the object already exists or is still in use.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }

    /// 500: the server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// 503: the server is shutting down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }

    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The error reply envelope.
    pub fn to_reply(&self) -> RpcReply {
        RpcReply::failure(self.status, &self.message)
    }
}

impl From<sled::Error> for ApiError {
    fn from(e: sled::Error) -> Self {
        Self::internal(format!("storage error: {e}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(format!("stored record is corrupt: {e}"))
    }
}
