//! The per-domain log server: sites push log, status and heartbeat records over
//! `maestro.logs.v1.LogService`; the domain orchestrator and operators stream them back from a cursor.
//!
//! Invariants:
//! - a record is acknowledged only after it is flushed to sled;
//! - every stored record has a unique, strictly increasing `sequence` (starting at 1) that survives
//!   restarts, and records are stored in arrival order;
//! - a record is stored at most once per `(site, stream, sender_sequence)`; resends count as duplicates;
//! - subscribers only ever see durable records, in sequence order, without gaps or repeats;
//! - the latest status record of every `(site, blueprint)` is indexed and never removed by retention;
//! - retention removes the oldest records first (by count, stored bytes and age) and keeps dedupe
//!   correct for every record a site can still resend (see `store::retention`);
//! - a subscriber whose cursor is below removed records is told so by a retention notice before it
//!   gets the records still stored (see [`retention_notice`]);
//! - each site pushes at most `rate_limit_per_site` records per second (bucket of
//!   `rate_limit_burst`); a push over it is refused whole with `RESOURCE_EXHAUSTED`, storing nothing.

mod commits;
mod config;
mod error;
mod filter;
mod push;
mod rate_limit;
mod record;
mod retention_loop;
mod server;
mod service;
mod store;
mod subscription;

pub use commits::check_commit;
pub use config::Config;
pub use error::{Error, StoreError};
pub use filter::{MAX_FILTER_STREAMS, RecordFilter};
pub use push::{MAX_RECORDS_PER_PUSH, validate_push};
pub use rate_limit::{RateLimited, SiteRateLimiter};
pub use record::{BlueprintStatus, Body, LogLine, MAX_STREAM_CHARS, Record, SiteHeartbeat};
pub use server::{Running, SERVICE_NAME, run};
pub use store::{
    AppendOutcome, DEFAULT_PAGE_SIZE, MAX_PAGE_BYTES, MAX_PAGE_SIZE, RecordStore, Retention,
    RetentionOutcome, ScanPage,
};
pub use subscription::{RETENTION_NOTICE_SOURCE, RETENTION_NOTICE_STREAM, retention_notice};
