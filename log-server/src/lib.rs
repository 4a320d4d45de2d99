//! The per-domain log server: sites push log, status and heartbeat records over
//! `maestro.logs.v1.LogService`; the domain orchestrator and operators stream them back from a cursor.
//!
//! Invariants:
//! - a record is acknowledged only after it is flushed to sled;
//! - every stored record has a unique, strictly increasing `sequence` (starting at 1) that survives
//!   restarts, and records are stored in arrival order;
//! - a record is stored at most once per `(site, stream, sender_sequence)`; resends count as duplicates;
//! - subscribers only ever see durable records, in sequence order, without gaps or repeats;
//! - the latest status record of every `(site, blueprint)` is indexed and never removed by retention.

mod config;
mod error;
mod filter;
mod push;
mod record;
mod server;
mod service;
mod store;
mod subscription;

pub use config::Config;
pub use error::{Error, StoreError};
pub use filter::RecordFilter;
pub use push::{MAX_RECORDS_PER_PUSH, validate_push};
pub use record::{BlueprintStatus, Body, LogLine, MAX_STREAM_CHARS, Record, SiteHeartbeat};
pub use server::{Running, SERVICE_NAME, run};
pub use store::{
    AppendOutcome, DEFAULT_PAGE_SIZE, MAX_PAGE_BYTES, MAX_PAGE_SIZE, RecordStore, Retention,
    RetentionOutcome, ScanPage,
};
