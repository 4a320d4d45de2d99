//! Checking an exported log: the chain from the first entry to the last, and every checkpoint
//! against the public key. A pure function of its inputs; it names the first bad sequence.

use std::collections::HashSet;
use std::fmt;

use super::checkpoint::Checkpoint;
use super::entry::{Digest, Entry};
use crate::manifest::PublicKey;

/// What is wrong at the first bad sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The entry's content does not hash to the hash it records: it was changed.
    HashMismatch,
    /// The entry does not name the previous entry's hash: the chain is broken there (an
    /// entry before it was rewritten together with its hash, or this one was replaced).
    ChainBreak,
    /// The entry of this sequence is not in the log: it was removed.
    Missing,
    /// Another entry stands where this sequence belongs while this one comes later (or a
    /// sequence appears twice): the log was reordered.
    Reordered,
    /// A checkpoint's signature is not the audit key's.
    BadSignature,
    /// A validly signed checkpoint names another hash than the entry it covers has.
    CheckpointMismatch,
    /// A validly signed checkpoint covers entries the log no longer has: its tail was cut.
    Truncated,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HashMismatch => "changed (hash mismatch)",
            Self::ChainBreak => "chain break",
            Self::Missing => "removed (sequence gap)",
            Self::Reordered => "reordered (chain break)",
            Self::BadSignature => "bad checkpoint signature",
            Self::CheckpointMismatch => "checkpoint does not match the entry",
            Self::Truncated => "truncated (a checkpoint covers missing entries)",
        })
    }
}

/// The first bad sequence of a log and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The sequence number where the log stops holding.
    pub seq: u64,
    /// What kind of problem.
    pub problem: Problem,
    /// The details, naming the entries and hashes involved.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}: {}", self.seq, self.problem, self.reason)
    }
}

impl std::error::Error for Failure {}

/// What a log that verified holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The last entry a valid checkpoint covers (0: none).
    pub signed_through: u64,
    /// Entries after it: chain-checked, but no signature vouches for them yet.
    pub unsigned_tail: u64,
    /// The last entry's sequence (0 for an empty log).
    pub head_seq: u64,
    /// The last entry's hash ([`Digest::GENESIS`] for an empty log).
    pub head: Digest,
}

fn fail(seq: u64, problem: Problem, reason: String) -> Failure {
    Failure {
        seq,
        problem,
        reason,
    }
}

fn check_checkpoint(cp: &Checkpoint, entry: &Entry, key: &PublicKey) -> Result<(), Failure> {
    if !cp.is_signed_by(key) {
        return Err(fail(
            cp.seq,
            Problem::BadSignature,
            format!(
                "the checkpoint of entry {} (head {}) is not signed by audit key {key}",
                cp.seq, cp.head
            ),
        ));
    }
    if cp.head != entry.hash {
        return Err(fail(
            cp.seq,
            Problem::CheckpointMismatch,
            format!(
                "the checkpoint signed head {} but entry {} hashes to {}: the log was rewritten up to here",
                cp.head, cp.seq, entry.hash
            ),
        ));
    }
    Ok(())
}

/// Checks `entries` (in the order given, as exported) and `checkpoints` against `key`:
///
/// - entries are numbered 1, 2, 3, … in order (a gap is a removed entry, a number out of place
///   a reordering);
/// - each entry hashes to the hash it records (else it was changed) and names the previous
///   entry's hash (else the chain is broken);
/// - each checkpoint is signed by `key` and names the hash of the entry it covers; one beyond the
///   last entry means the tail was cut.
///
/// Entries after the last checkpoint are chain-checked and reported as the unsigned tail:
/// removing some of them leaves a shorter, valid log (pin the head off-box to notice).
pub fn verify(
    entries: &[Entry],
    checkpoints: &[Checkpoint],
    key: &PublicKey,
) -> Result<Report, Failure> {
    let present: HashSet<u64> = entries.iter().map(|e| e.seq).collect();
    let mut checkpoints: Vec<&Checkpoint> = checkpoints.iter().collect();
    checkpoints.sort_by_key(|c| c.seq);
    let mut pending = checkpoints.iter().peekable();
    let mut prev = Digest::GENESIS;
    let mut expected = 1u64;
    let mut signed_through = 0;
    for entry in entries {
        if let Some(cp) = pending.peek()
            && cp.seq < expected
        {
            // Only a checkpoint of entry 0 (or a duplicate) can be left behind.
            return Err(fail(
                cp.seq,
                Problem::CheckpointMismatch,
                format!("a checkpoint names entry {}, which no log has", cp.seq),
            ));
        }
        if entry.seq != expected {
            let previous = match expected {
                1 => "the start of the log".to_string(),
                n => format!("entry {}", n - 1),
            };
            return Err(if entry.seq > expected && !present.contains(&expected) {
                fail(
                    expected,
                    Problem::Missing,
                    format!(
                        "entry {} follows {previous}: entry {expected} was removed",
                        entry.seq
                    ),
                )
            } else if entry.seq > expected {
                fail(
                    expected,
                    Problem::Reordered,
                    format!(
                        "entry {} stands where entry {expected} belongs, after {previous}",
                        entry.seq
                    ),
                )
            } else {
                fail(
                    entry.seq,
                    Problem::Reordered,
                    format!("entry {} appears again after {previous}", entry.seq),
                )
            });
        }
        let computed = entry.computed_hash();
        if computed != entry.hash {
            return Err(fail(
                entry.seq,
                Problem::HashMismatch,
                format!(
                    "its content hashes to {computed}, but it records {}: the entry was changed",
                    entry.hash
                ),
            ));
        }
        if entry.prev != prev {
            return Err(fail(
                entry.seq,
                Problem::ChainBreak,
                format!(
                    "it names previous hash {}, but the entry before it hashes to {prev}",
                    entry.prev
                ),
            ));
        }
        while let Some(cp) = pending.next_if(|c| c.seq == entry.seq) {
            check_checkpoint(cp, entry, key)?;
            signed_through = entry.seq;
        }
        prev = entry.hash;
        expected += 1;
    }
    let last = expected - 1;
    if let Some(cp) = pending.next() {
        let problem = if cp.is_signed_by(key) {
            Problem::Truncated
        } else {
            Problem::BadSignature
        };
        return Err(fail(
            last + 1,
            problem,
            format!(
                "a checkpoint covers entry {} but the log ends at entry {last}: entries {}..={} are missing",
                cp.seq,
                last + 1,
                cp.seq
            ),
        ));
    }
    Ok(Report {
        entries: entries.len() as u64,
        checkpoints: checkpoints.len() as u64,
        signed_through,
        unsigned_tail: last - signed_through,
        head_seq: last,
        head: prev,
    })
}
