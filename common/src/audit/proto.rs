//! Conversions between the audit types and `maestro.audit.v1`.

use maestro_proto::audit::v1 as pb;

use super::checkpoint::Checkpoint;
use super::entry::{Digest, Entry, Outcome, Target};
use crate::FieldError;

impl From<&Entry> for pb::AuditEntry {
    fn from(e: &Entry) -> Self {
        Self {
            sequence: e.seq,
            time_ms: e.time_ms,
            who: e.who.clone(),
            call: e.call.clone(),
            targets: e
                .targets
                .iter()
                .map(|t| pb::AuditTarget {
                    kind: t.kind.clone(),
                    id: t.id.clone(),
                })
                .collect(),
            code: e.outcome.code.clone(),
            message: e.outcome.message.clone(),
            prev_hash: e.prev.0.to_vec(),
            hash: e.hash.0.to_vec(),
        }
    }
}

impl TryFrom<pb::AuditEntry> for Entry {
    type Error = FieldError;

    /// Takes the entry as sent (nothing is re-bounded: verification must see what the server
    /// holds); only the two hashes must be 32 bytes.
    fn try_from(e: pb::AuditEntry) -> Result<Self, FieldError> {
        Ok(Self {
            seq: e.sequence,
            time_ms: e.time_ms,
            who: e.who,
            call: e.call,
            targets: e
                .targets
                .into_iter()
                .map(|t| Target {
                    kind: t.kind,
                    id: t.id,
                })
                .collect(),
            outcome: Outcome {
                code: e.code,
                message: e.message,
            },
            prev: Digest::from_slice("prev_hash", &e.prev_hash)?,
            hash: Digest::from_slice("hash", &e.hash)?,
        })
    }
}

impl From<&Checkpoint> for pb::AuditCheckpoint {
    fn from(c: &Checkpoint) -> Self {
        Self {
            sequence: c.seq,
            head_hash: c.head.0.to_vec(),
            time_ms: c.time_ms,
            signature: c.signature.clone(),
        }
    }
}

impl TryFrom<pb::AuditCheckpoint> for Checkpoint {
    type Error = FieldError;

    fn try_from(c: pb::AuditCheckpoint) -> Result<Self, FieldError> {
        Ok(Self {
            seq: c.sequence,
            head: Digest::from_slice("head_hash", &c.head_hash)?,
            time_ms: c.time_ms,
            signature: c.signature,
        })
    }
}
