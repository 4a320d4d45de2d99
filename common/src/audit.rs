//! The tamper-evident audit log of a component's mutating calls: who (the caller's authenticated
//! identity), what (the call and the ids it acted on), when, and the result — also for calls
//! that were refused.
//!
//! Every [`Entry`] is chained to the one before it by SHA-256: its hash covers the previous
//! entry's hash and an unambiguous encoding of its own fields ([`Entry::canonical`]). Every
//! [`CHECKPOINT_EVERY`] entries, every [`CHECKPOINT_INTERVAL`] while new entries wait, and at
//! shutdown, the log signs its head with an ed25519 key of its own ([`Checkpoint`],
//! [`AuditKey`]). [`verify`] checks an exported log against the public key and names the first
//! entry that was changed, removed or moved, or a checkpoint that does not hold.
//!
//! Invariants: the sequence numbers of a log are 1, 2, 3, … without gaps, each entry's `prev` is
//! the previous entry's `hash`, and an entry is flushed to disk before the call it records is
//! answered ([`AuditLog::record`]). No request field ever fills `who`. Text from requests is
//! escaped and cut ([`Record`]), so an entry is bounded and forges no line.

mod checkpoint;
mod entry;
mod export;
mod key;
mod proto;
mod service;
mod store;
mod verify;

pub use checkpoint::Checkpoint;
pub use entry::{Digest, Entry, Outcome, Record, Target, who_of};
pub use export::{EXPORT_FORMAT, Export};
pub use key::{AuditKey, KEY_FILE, PUBLIC_KEY_FILE};
pub use service::{AuditApi, SERVICE_NAME};
pub use store::{AuditLog, Filter, run_checkpoints};
pub use verify::{Failure, Problem, Report, verify};

/// A checkpoint is signed at least every this many entries.
pub const CHECKPOINT_EVERY: u64 = 64;
/// A checkpoint is signed this long after the last one when entries arrived since.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(test)]
mod tests;
