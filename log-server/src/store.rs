//! `RecordStore`: the records of one domain in sled, in arrival order, with a dedupe index and an
//! index of the latest status per `(site, blueprint)`.
//!
//! Trees: `records` (sequence -> encoded `maestro.logs.v1.Record`), `dedupe` ((site, stream,
//! sender_sequence) -> sequence, plus one floor per (site, stream) under sender_sequence 0, see
//! [`retention`]), `latest_status` ((site, blueprint) -> (sender_sequence, sequence)), `meta`
//! (`last_sequence`, `removed_through`). An append is one sled transaction over all four, flushed
//! (fsync) before it returns; the durable high-water mark is published on a `watch` channel
//! afterwards. Every write is flushed by its writer, so the database has no background flusher.
//! The number and encoded bytes of stored records are counted once at open and kept up to date
//! in memory; retention limits are checked against them.

mod keys;
mod query;
mod retention;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod tests;

pub use query::{DEFAULT_PAGE_SIZE, MAX_PAGE_BYTES, MAX_PAGE_SIZE};
pub use retention::{Retention, RetentionOutcome};

use crate::error::StoreError;
use crate::filter::RecordFilter;
use crate::record::Record;
use keys::{
    dedupe_floor_key, dedupe_key, read_status_value, read_u64, seq_key, status_key, status_value,
};
use maestro_common::ResourceName;
use maestro_proto::logs::v1 as proto;
use prost::Message;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

const LAST_SEQUENCE: &[u8] = b"last_sequence";
/// Highest sequence retention removed (0 when it never removed anything).
const REMOVED_THROUGH: &[u8] = b"removed_through";

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Records stored.
    pub accepted: u32,
    /// Records already stored earlier (same site, stream and sender sequence), not stored again.
    pub duplicates: u32,
    /// Highest sequence among the batch's records, new or duplicate (0 for an empty batch).
    pub last_sequence: u64,
}

/// One batch of a scan through the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanPage {
    /// Matching records, in sequence order.
    pub records: Vec<Record>,
    /// Every record up to this sequence has been looked at; resume after it.
    pub scanned_through: u64,
    /// The scan reached its upper bound (nothing more to look at up to it).
    pub exhausted: bool,
}

/// The durable record log of one domain.
pub struct RecordStore {
    db: sled::Db,
    records: sled::Tree,
    dedupe: sled::Tree,
    latest: sled::Tree,
    meta: sled::Tree,
    /// Serialises appends and retention so sequences are assigned without transaction retries.
    write_lock: Mutex<()>,
    /// One flush making appends durable at a time: an append that waited for its turn finds its
    /// records already flushed by the flush before it when they were committed before that one
    /// started (group commit: one fsync for every push that arrived meanwhile).
    flush_turn: tokio::sync::Mutex<()>,
    /// Highest sequence committed (not necessarily flushed).
    committed: AtomicU64,
    /// Highest sequence flushed.
    durable: watch::Sender<u64>,
    /// Records stored (changed under `write_lock`).
    stored_records: AtomicU64,
    /// Encoded bytes of the stored records (changed under `write_lock`).
    stored_bytes: AtomicU64,
    /// Highest sequence retention removed; raised before the removal is committed, so a reader
    /// that misses a record because it was removed sees a value at least its sequence afterwards.
    removed_through: AtomicU64,
    /// Dropped (last) together with every handle of the database, which lets
    /// [`RecordStore::closed`] tell when the database files are released.
    alive: Arc<watch::Sender<()>>,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("last_sequence", &self.last_sequence())
            .finish_non_exhaustive()
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

impl RecordStore {
    /// Opens (or creates) the store in the directory `path`. Without sled's background
    /// flusher: every append, every retention pass that removed records and the close flush
    /// what they wrote themselves.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = maestro_common::durable::open_flushed_by_owner(path)?;
        let records = db.open_tree("records")?;
        let dedupe = db.open_tree("dedupe")?;
        let latest = db.open_tree("latest_status")?;
        let meta = db.open_tree("meta")?;
        let stored = match meta.get(LAST_SEQUENCE)? {
            Some(v) => read_u64(&v).ok_or_else(|| corrupt("meta last_sequence"))?,
            None => 0,
        };
        let newest = match records.last()? {
            Some((k, _)) => read_u64(&k).ok_or_else(|| corrupt("record key"))?,
            None => 0,
        };
        let last = stored.max(newest);
        let removed_through = match meta.get(REMOVED_THROUGH)? {
            Some(v) => read_u64(&v).ok_or_else(|| corrupt("meta removed_through"))?,
            None => 0,
        };
        let (mut count, mut bytes) = (0u64, 0u64);
        for item in records.iter() {
            let (_, v) = item?;
            count += 1;
            bytes += v.len() as u64;
        }
        Ok(Self {
            db,
            records,
            dedupe,
            latest,
            meta,
            write_lock: Mutex::new(()),
            flush_turn: tokio::sync::Mutex::new(()),
            committed: AtomicU64::new(last),
            durable: watch::Sender::new(last),
            stored_records: AtomicU64::new(count),
            stored_bytes: AtomicU64::new(bytes),
            removed_through: AtomicU64::new(removed_through),
            alive: Arc::new(watch::Sender::new(())),
        })
    }

    /// Highest durable sequence (0 when the store is empty).
    pub fn last_sequence(&self) -> u64 {
        *self.durable.borrow()
    }

    /// A receiver of the durable high-water mark, updated after every flushed append.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// Completes once this store and every handle of its sled database have been dropped, so
    /// the directory can be opened again.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.alive.subscribe();
        async move { while rx.changed().await.is_ok() {} }
    }

    /// Number of stored records (walks the tree).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records stored, as counted for retention.
    pub fn stored_records(&self) -> u64 {
        self.stored_records.load(Ordering::SeqCst)
    }

    /// Encoded bytes of the stored records (the values of `records`; index and sled overhead
    /// excluded), as counted for retention.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes.load(Ordering::SeqCst)
    }

    /// Highest sequence retention has removed (0 if none). A reader whose cursor is below it has
    /// missed records.
    pub fn removed_through(&self) -> u64 {
        self.removed_through.load(Ordering::SeqCst)
    }

    /// Stores the records that are not duplicates, in order, each with the next sequence and
    /// `received_at`, in one transaction, and flushes before returning.
    pub async fn append(&self, batch: Vec<Record>) -> Result<AppendOutcome, StoreError> {
        let wire: Vec<proto::Record> = batch.into_iter().map(proto::Record::from).collect();
        let outcome = {
            let _guard = self
                .write_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Taken under the lock, so `received_at` follows arrival (sequence) order as far as
            // the wall clock does; retention by age relies on it.
            let received_at = prost_types::Timestamp::from(std::time::SystemTime::now());
            let (outcome, bytes) = self.append_committed(&wire, &received_at)?;
            self.committed
                .fetch_max(outcome.last_sequence, Ordering::SeqCst);
            self.stored_records
                .fetch_add(u64::from(outcome.accepted), Ordering::SeqCst);
            self.stored_bytes.fetch_add(bytes, Ordering::SeqCst);
            outcome
        };
        self.make_durable(outcome.last_sequence).await?;
        Ok(outcome)
    }

    /// Returns once every record up to `sequence` is flushed, and publishes the new durable
    /// high-water mark. Appends waiting meanwhile share the next flush: each takes its turn, and
    /// one whose records a flush already covered returns without flushing again.
    async fn make_durable(&self, sequence: u64) -> Result<(), StoreError> {
        let _turn = self.flush_turn.lock().await;
        if *self.durable.borrow() >= sequence {
            return Ok(());
        }
        // Everything committed before the flush starts is durable once it returns.
        let target = self.committed.load(Ordering::SeqCst);
        self.flush().await?;
        self.durable.send_if_modified(|v| {
            let advanced = target > *v;
            *v = (*v).max(target);
            advanced
        });
        Ok(())
    }

    /// Commits the batch; returns what it did and the encoded bytes it added.
    fn append_committed(
        &self,
        wire: &[proto::Record],
        received_at: &prost_types::Timestamp,
    ) -> Result<(AppendOutcome, u64), StoreError> {
        let trees = (&self.records, &self.dedupe, &self.latest, &self.meta);
        let outcome = trees.transaction(|(records, dedupe, latest, meta)| {
            let abort = |what: &str| ConflictableTransactionError::Abort(corrupt(what));
            let mut last = match meta.get(LAST_SEQUENCE)? {
                Some(v) => read_u64(&v).ok_or_else(|| abort("meta last_sequence"))?,
                None => 0,
            };
            last = last.max(self.committed.load(Ordering::SeqCst));
            let mut out = AppendOutcome::default();
            let mut bytes = 0u64;
            for r in wire {
                let dkey = dedupe_key(&r.site, &r.stream, r.sender_sequence);
                if let Some(existing) = dedupe.get(&dkey)? {
                    out.duplicates += 1;
                    out.last_sequence = out
                        .last_sequence
                        .max(read_u64(&existing).ok_or_else(|| abort("dedupe"))?);
                    continue;
                }
                // At or below the floor: stored before, and removed by retention together with
                // its dedupe entry. Its sequence is gone, so it adds nothing to `last_sequence`.
                if let Some(floor) = dedupe.get(dedupe_floor_key(&r.site, &r.stream))?
                    && r.sender_sequence <= read_u64(&floor).ok_or_else(|| abort("dedupe floor"))?
                {
                    out.duplicates += 1;
                    continue;
                }
                last += 1;
                let mut stored = r.clone();
                stored.sequence = last;
                stored.received_at = Some(*received_at);
                let encoded = stored.encode_to_vec();
                bytes += encoded.len() as u64;
                records.insert(&seq_key(last), encoded)?;
                dedupe.insert(dkey, &seq_key(last))?;
                if matches!(r.body, Some(proto::record::Body::Status(_))) && !r.blueprint.is_empty()
                {
                    let skey = status_key(&r.site, &r.blueprint);
                    let newer = match latest.get(&skey)? {
                        Some(v) => {
                            read_status_value(&v)
                                .ok_or_else(|| abort("latest_status"))?
                                .0
                                < r.sender_sequence
                        }
                        None => true,
                    };
                    if newer {
                        latest.insert(skey, &status_value(r.sender_sequence, last))?;
                    }
                }
                out.accepted += 1;
                out.last_sequence = out.last_sequence.max(last);
            }
            if out.accepted > 0 {
                meta.insert(LAST_SEQUENCE, &seq_key(last))?;
            }
            Ok((out, bytes))
        })?;
        Ok(outcome)
    }

    /// The record at `sequence`, if stored.
    pub fn get(&self, sequence: u64) -> Result<Option<Record>, StoreError> {
        self.records
            .get(seq_key(sequence))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// The latest status record of `blueprint` at `site` (by sender sequence), if any.
    pub fn latest_status(
        &self,
        site: &ResourceName,
        blueprint: &ResourceName,
    ) -> Result<Option<Record>, StoreError> {
        let Some(v) = self
            .latest
            .get(status_key(site.as_str(), blueprint.as_str()))?
        else {
            return Ok(None);
        };
        let (_, seq) = read_status_value(&v).ok_or_else(|| corrupt("latest_status"))?;
        self.get(seq)
    }

    /// Looks at the records with `after < sequence <= upto` in order and returns those matching
    /// `filter`, stopping after `max_matches` matches or `max_scanned` records looked at.
    pub fn scan(
        &self,
        after: u64,
        upto: u64,
        filter: &RecordFilter,
        max_matches: usize,
        max_scanned: usize,
    ) -> Result<ScanPage, StoreError> {
        let mut page = ScanPage {
            records: Vec::new(),
            scanned_through: after,
            exhausted: false,
        };
        if after >= upto {
            page.exhausted = true;
            return Ok(page);
        }
        let range = self
            .records
            .range(seq_key(after.saturating_add(1))..=seq_key(upto));
        for (scanned, item) in range.enumerate() {
            if page.records.len() >= max_matches || scanned >= max_scanned {
                return Ok(page);
            }
            let (k, v) = item?;
            let seq = read_u64(&k).ok_or_else(|| corrupt("record key"))?;
            let record = decode(&v)?;
            page.scanned_through = seq;
            if filter.matches(&record) {
                page.records.push(record);
            }
        }
        page.scanned_through = upto;
        page.exhausted = true;
        Ok(page)
    }

    /// Flushes everything written so far to disk (fsync).
    ///
    /// Runs sled's blocking `flush` on the blocking pool: sled 0.34's `flush_async` can miss its
    /// wake-up when several flushes overlap and hang forever (spacejam/sled#1241, #1308).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (db, alive) = (self.db.clone(), self.alive.clone());
        let flushed = tokio::task::spawn_blocking(move || {
            let flushed = db.flush();
            drop((db, alive));
            flushed
        });
        match flushed.await {
            Ok(flushed) => {
                flushed?;
                Ok(())
            }
            Err(e) => Err(StoreError::Flush(e.to_string())),
        }
    }
}

/// Decodes a stored record.
fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
    let wire =
        proto::Record::decode(bytes).map_err(|e| StoreError::Corrupt(format!("record: {e}")))?;
    let record = Record::try_from(wire).map_err(|e| StoreError::Corrupt(format!("record: {e}")))?;
    if record.sequence == 0 {
        return Err(corrupt("record without sequence"));
    }
    Ok(record)
}
