//! Retention: drop the oldest records by count and age, but never the latest status record of a
//! `(site, blueprint)` (the domain orchestrator rebuilds its view from those).

use super::RecordStore;
use super::keys::{read_status_value, read_u64, seq_key};
use crate::error::StoreError;
use maestro_proto::logs::v1 as proto;
use prost::Message;
use std::collections::HashSet;
use std::time::Duration;

/// How many records to remove per locked step, so pushes are not blocked for long.
const CHUNK: usize = 1000;

/// What to keep. `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many records (protected records count too).
    pub max_records: Option<u64>,
    /// Remove records received longer ago than this.
    pub max_age: Option<Duration>,
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Records removed.
    pub removed: u64,
    /// Records that were due but kept because they are the latest status of a blueprint.
    pub protected: u64,
}

impl RecordStore {
    /// Removes the oldest records beyond `policy` as of `now_millis` (milliseconds since the
    /// epoch), keeping every latest status record, and flushes. Sequences are never reused and the
    /// dedupe index is kept, so a late resend of a removed record is still recognised.
    pub async fn apply_retention(
        &self,
        policy: &Retention,
        now_millis: i64,
    ) -> Result<RetentionOutcome, StoreError> {
        let cutoff = policy.max_age.map(|age| {
            now_millis.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
        });
        let mut outcome = RetentionOutcome::default();
        let mut count = self.records.len() as u64;
        let mut after = 0u64;
        loop {
            let (step, next_after, done) = {
                let _guard = self
                    .write_lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                self.retention_step(policy, cutoff, &mut count, after)?
            };
            outcome.removed += step.removed;
            outcome.protected += step.protected;
            after = next_after;
            if done {
                break;
            }
        }
        if outcome.removed > 0 {
            self.flush().await?;
        }
        Ok(outcome)
    }

    /// One chunk from `after` on; returns what it did, where to continue and whether it is done.
    fn retention_step(
        &self,
        policy: &Retention,
        cutoff: Option<i64>,
        count: &mut u64,
        after: u64,
    ) -> Result<(RetentionOutcome, u64, bool), StoreError> {
        let protected = self.protected_sequences()?;
        let mut batch = sled::Batch::default();
        let mut out = RetentionOutcome::default();
        let mut last = after;
        for (looked, item) in self
            .records
            .range(seq_key(after.saturating_add(1))..)
            .enumerate()
        {
            if looked >= CHUNK {
                self.records.apply_batch(batch)?;
                return Ok((out, last, false));
            }
            let (k, v) = item?;
            let seq = read_u64(&k).ok_or_else(|| StoreError::Corrupt("record key".into()))?;
            let over_count = policy.max_records.is_some_and(|max| *count > max);
            let too_old = cutoff.is_some_and(|c| received_millis(&v) < c);
            if !over_count && !too_old {
                // Records are in arrival order: nothing later is due either.
                self.records.apply_batch(batch)?;
                return Ok((out, seq, true));
            }
            last = seq;
            if protected.contains(&seq) {
                out.protected += 1;
                continue;
            }
            batch.remove(&k);
            *count -= 1;
            out.removed += 1;
        }
        self.records.apply_batch(batch)?;
        Ok((out, last, true))
    }

    fn protected_sequences(&self) -> Result<HashSet<u64>, StoreError> {
        self.latest
            .iter()
            .values()
            .map(|v| {
                let v = v?;
                read_status_value(&v)
                    .map(|(_, seq)| seq)
                    .ok_or_else(|| StoreError::Corrupt("latest_status".into()))
            })
            .collect()
    }
}

/// Milliseconds since the epoch at which a stored record was received (0 if it does not decode).
fn received_millis(bytes: &[u8]) -> i64 {
    proto::Record::decode(bytes).map_or(0, |r| maestro_common::time::millis(r.received_at.as_ref()))
}
