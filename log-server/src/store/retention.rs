//! Retention: drop the oldest records by count, total bytes and age, but never the latest status
//! record of a `(site, blueprint)` (the domain orchestrator rebuilds its view from those).
//!
//! Records are removed in sequence (arrival) order; a pass stops at the first record that is due
//! under no limit. Protected records count towards the limits but are skipped. The highest removed
//! sequence is kept as `removed_through`, so subscriptions can tell a client that records after its
//! cursor are gone.
//!
//! # Bounding the dedupe index
//!
//! A removed record's dedupe entry `(site, stream, q)` is dropped when a record of the same
//! `(site, stream)` with a higher sender sequence is known — in particular when the oldest kept
//! record of that `(site, stream)` is newer — and the stream's *floor* (key sender sequence 0) is
//! raised to `q`. An arriving record at or below the floor counts as a duplicate.
//!
//! Why that keeps dedupe correct for everything a site can still resend: a site numbers the
//! records of each stream in the order it appends them to its outbox, sends the oldest waiting
//! records first (each push is a prefix of its queue), removes records only once their push was
//! acknowledged, and never re-adds one (contracts: "Site outbox"). So when record `k` of a
//! `(site, stream)` was stored, every record `q < k` of that stream was, at that moment, either
//! already acknowledged (stored before), in the same push (stored atomically with `k`), or dropped
//! by the outbox (never sent again). Any `q < k` the site sends later is therefore a resend of a
//! stored record — including the batch it resends when an acknowledgement was lost, which is why
//! dropping the entry alone would not do (that batch may straddle the retention boundary) and the
//! floor is needed. Records above the floor keep exact entries while stored, and the newest entry
//! of every stream is never dropped, so the index holds at most one entry per `(site, stream)`
//! beyond the stored records. A sender that does not follow that discipline (sequences reused
//! after losing its state, or an older record first sent after a newer one whose entry was already
//! dropped) sees those records counted as duplicates.

use super::keys::{
    dedupe_floor_key, dedupe_key, dedupe_prefix, dedupe_sender_sequence, read_status_value,
    read_u64, seq_key,
};
use super::{REMOVED_THROUGH, RecordStore};
use crate::error::StoreError;
use maestro_proto::logs::v1 as proto;
use prost::Message;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How many records to look at per locked step, so pushes are not blocked for long.
const CHUNK: usize = 1000;

/// What to keep. `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many records (protected records count too).
    pub max_records: Option<u64>,
    /// Keep at most this many bytes of encoded records (protected records count too).
    pub max_bytes: Option<u64>,
    /// Remove records received longer ago than this.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.max_records.is_some() || self.max_bytes.is_some() || self.max_age.is_some()
    }
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Records removed.
    pub removed: u64,
    /// Records that were due but kept because they are the latest status of a blueprint.
    pub protected: u64,
}

/// The writes of one step, computed under the write lock and committed in one transaction.
#[derive(Default)]
struct Plan {
    /// Record keys to remove.
    records: Vec<[u8; 8]>,
    /// Encoded bytes of those records.
    bytes: u64,
    /// Dedupe entries to drop.
    dedupe: Vec<Vec<u8>>,
    /// New floors per `(site, stream)` floor key.
    floors: HashMap<Vec<u8>, u64>,
    /// Highest removed sequence.
    removed_through: u64,
}

impl RecordStore {
    /// Removes the oldest records beyond `policy` as of `now_millis` (milliseconds since the
    /// epoch), keeping every latest status record, bounds the dedupe index (see the module
    /// documentation), and flushes. Sequences are never reused.
    pub async fn apply_retention(
        &self,
        policy: &Retention,
        now_millis: i64,
    ) -> Result<RetentionOutcome, StoreError> {
        let cutoff = policy.max_age.map(|age| {
            now_millis.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
        });
        let mut outcome = RetentionOutcome::default();
        let mut after = 0u64;
        loop {
            let (step, next_after, done) = {
                let _guard = self
                    .write_lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                self.retention_step(policy, cutoff, after)?
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
    /// Runs under the write lock.
    fn retention_step(
        &self,
        policy: &Retention,
        cutoff: Option<i64>,
        after: u64,
    ) -> Result<(RetentionOutcome, u64, bool), StoreError> {
        let protected = self.protected_sequences()?;
        let mut count = self.stored_records.load(Ordering::SeqCst);
        let mut bytes = self.stored_bytes.load(Ordering::SeqCst);
        let mut newest: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut plan = Plan::default();
        let mut out = RetentionOutcome::default();
        let mut last = after;
        let mut done = true;
        for (looked, item) in self
            .records
            .range(seq_key(after.saturating_add(1))..)
            .enumerate()
        {
            if looked >= CHUNK {
                done = false;
                break;
            }
            let (k, v) = item?;
            let seq = read_u64(&k).ok_or_else(|| StoreError::Corrupt("record key".into()))?;
            let record = proto::Record::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("record {seq}: {e}")))?;
            let over_count = policy.max_records.is_some_and(|max| count > max);
            let over_bytes = policy.max_bytes.is_some_and(|max| bytes > max);
            let too_old = cutoff
                .is_some_and(|c| maestro_common::time::millis(record.received_at.as_ref()) < c);
            if !over_count && !over_bytes && !too_old {
                // Records are in arrival order: nothing later is due either.
                break;
            }
            last = seq;
            if protected.contains(&seq) {
                out.protected += 1;
                continue;
            }
            plan.records.push(seq_key(seq));
            plan.bytes += v.len() as u64;
            plan.removed_through = seq;
            count -= 1;
            bytes = bytes.saturating_sub(v.len() as u64);
            out.removed += 1;
            self.plan_dedupe(&record, &mut newest, &mut plan)?;
        }
        self.commit(plan)?;
        Ok((out, last, done))
    }

    /// Drops the dedupe entry of the removed `record` when a newer record of its `(site, stream)`
    /// is known, raising the floor.
    fn plan_dedupe(
        &self,
        record: &proto::Record,
        newest: &mut HashMap<Vec<u8>, u64>,
        plan: &mut Plan,
    ) -> Result<(), StoreError> {
        let prefix = dedupe_prefix(&record.site, &record.stream);
        let newest = match newest.get(&prefix) {
            Some(n) => *n,
            None => {
                let n = match self.dedupe.scan_prefix(&prefix).next_back().transpose()? {
                    Some((k, _)) => dedupe_sender_sequence(&k)
                        .ok_or_else(|| StoreError::Corrupt("dedupe key".into()))?,
                    None => 0,
                };
                newest.insert(prefix, n);
                n
            }
        };
        let q = record.sender_sequence;
        if q < newest {
            plan.dedupe
                .push(dedupe_key(&record.site, &record.stream, q));
            let floor = plan
                .floors
                .entry(dedupe_floor_key(&record.site, &record.stream))
                .or_insert(0);
            *floor = (*floor).max(q);
        }
        Ok(())
    }

    /// Commits a plan in one transaction and updates the in-memory totals. Runs under the write
    /// lock.
    fn commit(&self, plan: Plan) -> Result<(), StoreError> {
        if plan.records.is_empty() {
            return Ok(());
        }
        // Raised before the records go, so a reader that misses one sees it (see the field doc).
        self.removed_through
            .fetch_max(plan.removed_through, Ordering::SeqCst);
        let removed_through = self.removed_through.load(Ordering::SeqCst);
        let trees = (&self.records, &self.dedupe, &self.meta);
        trees.transaction(|(records, dedupe, meta)| {
            for k in &plan.records {
                records.remove(k)?;
            }
            for k in &plan.dedupe {
                dedupe.remove(k.as_slice())?;
            }
            for (k, floor) in &plan.floors {
                let current = match dedupe.get(k)? {
                    Some(v) => read_u64(&v).ok_or_else(|| {
                        ConflictableTransactionError::Abort(StoreError::Corrupt(
                            "dedupe floor".into(),
                        ))
                    })?,
                    None => 0,
                };
                if *floor > current {
                    dedupe.insert(k.as_slice(), &seq_key(*floor))?;
                }
            }
            meta.insert(REMOVED_THROUGH, &seq_key(removed_through))?;
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        })?;
        self.stored_records
            .fetch_sub(plan.records.len() as u64, Ordering::SeqCst);
        self.stored_bytes.fetch_sub(plan.bytes, Ordering::SeqCst);
        Ok(())
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
