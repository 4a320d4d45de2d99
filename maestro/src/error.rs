//! Errors of the maestro crate and their mapping to gRPC statuses (one place).

use maestro_common::FieldError;

/// Why `run` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (or the operator policy it names) is unusable.
    #[error("invalid config: {0}")]
    Config(#[from] FieldError),
    /// The TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] maestro_common::tls::TlsError),
    /// The catalog could not be loaded.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    /// The database could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("database: {0}")]
    Sled(sled::Error),
    /// A stored record did not decode.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// The decoding error.
        reason: String,
    },
}

/// A sled error, reported as a storage failure when it is one (the store then needs reopening,
/// see `maestro_common::durable`).
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        maestro_common::durable::note_failure(&e);
        Self::Sled(e)
    }
}

/// Why an order request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Invalid input (field path and reason).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The order does not exist.
    #[error("order {0} not found")]
    NotFound(String),
    /// The service is not in a state that allows the action.
    #[error("{0}")]
    FailedPrecondition(String),
    /// An add of a service that already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The idempotency key already names an order created from a different request.
    #[error(
        "idempotency_key '{key}' already names order {order_id}, which was created from a \
         different request; use a new key for a new order"
    )]
    KeyReused {
        /// The key.
        key: String,
        /// The order it names.
        order_id: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller may not act on the order (the status says which rule refused it).
    #[error("{}", .0.message())]
    Refused(tonic::Status),
    /// The work that finishes a stored change stopped before its end (maestro is stopping, or
    /// the work failed); what was stored is finished at the next start.
    #[error("the request's work stopped before its end: {0}")]
    Stopped(String),
}

impl From<sled::Error> for OrderError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<OrderError> for tonic::Status {
    fn from(e: OrderError) -> Self {
        match &e {
            OrderError::Invalid(_) => tonic::Status::invalid_argument(e.to_string()),
            OrderError::NotFound(_) => tonic::Status::not_found(e.to_string()),
            OrderError::FailedPrecondition(_) => tonic::Status::failed_precondition(e.to_string()),
            OrderError::AlreadyExists(_) | OrderError::KeyReused { .. } => {
                tonic::Status::already_exists(e.to_string())
            }
            OrderError::Refused(status) => status.clone(),
            OrderError::Stopped(_) => {
                tracing::error!(error = %e, "request stopped");
                tonic::Status::unavailable(e.to_string())
            }
            OrderError::Store(StoreError::Sled(s)) => {
                maestro_common::durable::status("order store", s)
            }
            OrderError::Store(_) => {
                tracing::error!(error = %e, "storage failure");
                tonic::Status::internal(e.to_string())
            }
        }
    }
}

impl From<crate::order_logs::LogsError> for tonic::Status {
    fn from(e: crate::order_logs::LogsError) -> Self {
        tonic::Status::unavailable(e.to_string())
    }
}

impl From<StoreError> for tonic::Status {
    fn from(e: StoreError) -> Self {
        OrderError::Store(e).into()
    }
}
