//! Shared building blocks of Maestro's services. Depends only on `maestro-proto`; every service
//! depends on it, never the other way round.
//!
//! Invariants: a [`names::ResourceName`] is always safe to use as a path component; [`json::canonical`]
//! output is byte-for-byte reproducible; [`ids`] derivations are stable across releases.

pub mod access;
pub mod audit;
pub mod authz;
pub mod backoff;
pub mod catalog;
pub mod config;
pub mod contract;
pub mod diff;
pub mod durable;
pub mod error;
pub mod grpc;
pub mod identity;
pub mod ids;
pub mod json;
pub mod launch;
pub mod manifest;
pub mod names;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod template;
pub mod text;
pub mod time;
pub mod tls;

pub use error::FieldError;
pub use names::ResourceName;
