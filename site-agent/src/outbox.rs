//! The on-disk outbox of records for the log server, and the task that drains it.
//!
//! Invariants:
//! - a record is numbered (per-stream `sender_sequence`) and stored in sled in one transaction, so
//!   numbers are never reused across restarts; records leave the outbox in the order they were
//!   appended, after the log server acknowledged them — or when the bound below drops them;
//! - the outbox is bounded by `max_records`: when it is full the oldest `log` records are dropped
//!   first and one `log` record `dropped N log records while the log server was unreachable`
//!   stands for them (N accumulates until that record is sent); `status` records are never
//!   dropped; only the newest pending heartbeat is kept;
//! - a record in the batch being pushed (in flight) is never dropped nor rewritten, so a record
//!   is either delivered or counted as dropped, never both;
//! - heartbeats are stored and removed with plain writes (sled writes a transaction or a batch
//!   to its log at once, plain writes when its buffer fills or at a flush), and the sender
//!   flushes before a push only when something besides heartbeats changed since the last flush
//!   (`Outbox::unflushed`): an idle site writes nothing to its disk per heartbeat. Not being one
//!   transaction, the writes are counted one by one: a removal that fails leaves its heartbeat
//!   stored and counted, for the next heartbeat to replace.
//!   A heartbeat is not worth keeping across a crash (the next one replaces it), but its
//!   sequence must never be handed out again (the log server would take the new heartbeat for a
//!   resend): the heartbeat that starts each block of [`HEARTBEAT_SEQUENCE_BLOCK`] sequences
//!   (1, 1025, ...) is flushed before it is sent, so fewer than a block are ever sent past the
//!   stored sequence, and an outbox reopened after a stop continues the heartbeat sequence one
//!   block past the stored one, above any heartbeat sent unflushed.

mod sender;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use maestro_proto::logs::v1::{LogLine, Record, record};
use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use tokio::sync::Notify;

pub use sender::{log_server_client, run_sender, run_sender_on};

use crate::Error;

const NEXT_KEY: &[u8] = b"outbox-next";
const SEQ_PREFIX: &str = "seq/";
/// The pending "dropped N log records" record: its key and N (two big-endian u64).
const MARKER_KEY: &[u8] = b"outbox-dropped";
/// Most records sent in one Push.
const MAX_BATCH: usize = 200;
/// Most encoded bytes sent in one Push (well under the servers' 4 MiB limit).
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Longest log message a record carries, in bytes: well under the log server's default
/// `max_record_bytes` (64 KiB), with room for the record's other fields.
pub const MAX_LOG_MESSAGE_BYTES: usize = 16 * 1024;
/// Default bound on waiting records (`outbox_max_records`).
pub const DEFAULT_MAX_RECORDS: usize = 100_000;
/// The stream whose records may be dropped when the outbox is full.
pub const LOG_STREAM: &str = "log";
/// The stream of which only the newest pending record is kept.
pub const HEARTBEAT_STREAM: &str = "heartbeat";
/// Source of the record that stands for dropped log records.
pub const DROPPED_SOURCE: &str = "outbox";
/// Heartbeats sent between two flushes at most: the heartbeat sequence after a restart skips
/// this far past the stored one (about 3 hours of heartbeats at the default 10 s).
pub const HEARTBEAT_SEQUENCE_BLOCK: u64 = 1024;

type TxResult<T> = Result<T, ConflictableTransactionError<Error>>;

/// Removes one record by key from the records tree (tests put a failing one in its place).
type Remove<'a> = &'a mut dyn FnMut(&sled::Tree, u64) -> Result<(), Error>;

fn remove_key(records: &sled::Tree, key: u64) -> Result<(), Error> {
    records.remove(key.to_be_bytes())?;
    Ok(())
}

/// Durable, bounded queue of records waiting for the log server. Cheap to clone; open it once
/// per database (the clones share its bookkeeping).
#[derive(Clone)]
pub struct Outbox {
    /// The database of both trees, flushed as a whole.
    db: sled::Db,
    records: sled::Tree,
    meta: sled::Tree,
    notify: Arc<Notify>,
    domain: String,
    site: String,
    max_records: usize,
    state: Arc<Mutex<State>>,
}

/// In-memory bookkeeping of the stored records, rebuilt on open. Every change to the records
/// tree happens with this locked, so it always matches the tree.
#[derive(Debug, Default)]
struct State {
    /// Records stored.
    pending: usize,
    /// Keys of droppable `log` records (every log record but the marker), oldest first.
    logs: VecDeque<u64>,
    /// Keys of the stored heartbeats: the newest, plus older ones only while they are in flight
    /// (a new heartbeat replaces every stored one not in flight, so a failing push cannot make
    /// them pile up).
    heartbeats: std::collections::BTreeSet<u64>,
    /// The pending record standing for dropped log records.
    marker: Option<Marker>,
    /// Highest key of the batch being pushed; it and every key below it are in flight.
    in_flight_upto: Option<u64>,
    /// Changes that must be on disk before the next push, counted (every record but the
    /// heartbeats that [`HEARTBEAT_SEQUENCE_BLOCK`] lets through, and the open); the count the
    /// last finished flush covered is `flushed`.
    changes: u64,
    flushed: u64,
}

impl State {
    fn in_flight(&self, key: u64) -> bool {
        self.in_flight_upto.is_some_and(|upto| key <= upto)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    key: u64,
    dropped: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("site", &self.site)
            .field("pending", &self.len())
            .field("max_records", &self.max_records)
            .finish()
    }
}

impl Outbox {
    /// Opens the outbox trees of `db` with the default bound; records get `domain` and `site`
    /// filled in.
    pub fn open(db: &sled::Db, domain: &str, site: &str) -> Result<Self, Error> {
        Self::open_bounded(db, domain, site, DEFAULT_MAX_RECORDS)
    }

    /// Opens the outbox trees of `db`, keeping at most `max_records` records (at least 2). Only
    /// log records outside the batch in flight are dropped, so `status` records, the batch in
    /// flight and a heartbeat kept beside an in-flight one may take the outbox over the bound.
    pub fn open_bounded(
        db: &sled::Db,
        domain: &str,
        site: &str,
        max_records: usize,
    ) -> Result<Self, Error> {
        let records = db.open_tree("outbox")?;
        let meta = db.open_tree("outbox-meta")?;
        skip_unflushed_heartbeats(&meta)?;
        let mut state = load_state(&records, &meta)?;
        // The skip above is flushed before the first push.
        state.changes = 1;
        let state = Arc::new(Mutex::new(state));
        crate::metrics::watch_outbox(Arc::downgrade(&state), |st: &State| st.pending);
        Ok(Self {
            db: db.clone(),
            records,
            meta,
            notify: Arc::new(Notify::new()),
            domain: domain.to_string(),
            site: site.to_string(),
            max_records: max_records.max(2),
            state,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `record` (filling domain, site, sender_sequence and, when absent, observed_at)
    /// and returns its sender_sequence. A heartbeat replaces the pending one; when the outbox is
    /// full the oldest log records make room.
    pub fn append(&self, record: Record) -> Result<u64, Error> {
        self.append_removing(record, &mut remove_key)
    }

    /// [`Outbox::append`], removing the heartbeats it replaces with `remove`.
    fn append_removing(&self, mut record: Record, remove: Remove<'_>) -> Result<u64, Error> {
        record.domain.clone_from(&self.domain);
        record.site.clone_from(&self.site);
        if record.observed_at.is_none() {
            record.observed_at = Some(now());
        }
        let mut st = self.lock();
        let heartbeat = record.stream == HEARTBEAT_STREAM;
        let replaced: Vec<u64> = if heartbeat {
            st.heartbeats
                .iter()
                .copied()
                .filter(|k| !st.in_flight(*k))
                .collect()
        } else {
            Vec::new()
        };
        let (key, seq) = if heartbeat {
            self.insert_heartbeat(&record)?
        } else {
            (&self.records, &self.meta)
                .transaction(|(records, meta)| insert_new(records, meta, &record))?
        };
        if !heartbeat || seq % HEARTBEAT_SEQUENCE_BLOCK == 1 {
            st.changes += 1;
        }
        st.pending += 1;
        match record.stream.as_str() {
            LOG_STREAM => st.logs.push_back(key),
            HEARTBEAT_STREAM => {
                st.heartbeats.insert(key);
                // The new heartbeat is stored: a replaced one that cannot be removed stays
                // counted and is replaced again by the next heartbeat.
                if let Err(e) = self.remove_heartbeats(&mut st, &replaced, remove) {
                    tracing::warn!(error = %e, "cannot remove replaced heartbeats from the outbox");
                }
            }
            _ => {}
        }
        if st.pending > self.max_records
            && let Err(e) = self.make_room(&mut st)
        {
            tracing::error!(error = %e, "cannot drop old log records from the outbox");
        }
        drop(st);
        self.notify.notify_one();
        Ok(seq)
    }

    /// Stores a heartbeat under the next key and sequence with plain writes, not a transaction:
    /// sled writes every transaction and batch to its log at once, and a heartbeat is not worth
    /// a disk write (see the module). The counters go first, so a crash between the writes
    /// leaves at most an unused key, never a key used twice.
    fn insert_heartbeat(&self, record: &Record) -> Result<(u64, u64), Error> {
        let seq_key = seq_key(HEARTBEAT_STREAM);
        let key = read_u64(self.meta.get(NEXT_KEY)?.as_deref());
        let seq = read_u64(self.meta.get(seq_key.as_bytes())?.as_deref()) + 1;
        self.meta.insert(NEXT_KEY, &(key + 1).to_be_bytes())?;
        self.meta.insert(seq_key.as_bytes(), &seq.to_be_bytes())?;
        let mut r = record.clone();
        r.sender_sequence = seq;
        self.records.insert(key.to_be_bytes(), r.encode_to_vec())?;
        Ok((key, seq))
    }

    /// Removes the stored heartbeats `keys` with plain writes, one at a time, and counts each
    /// removal in `st` as it succeeds: a failure midway leaves the bookkeeping matching the
    /// tree (the heartbeats not removed stay pending).
    fn remove_heartbeats(
        &self,
        st: &mut State,
        keys: &[u64],
        remove: Remove<'_>,
    ) -> Result<(), Error> {
        for &key in keys {
            remove(&self.records, key)?;
            st.heartbeats.remove(&key);
            st.pending = st.pending.saturating_sub(1);
        }
        Ok(())
    }

    /// Drops the oldest droppable log records so the outbox holds `max_records` again, counting
    /// them in the pending marker record (rewritten in place) or in a new one.
    fn make_room(&self, st: &mut State) -> Result<(), Error> {
        let reuse = st.marker.filter(|m| !st.in_flight(m.key));
        let new_marker = usize::from(reuse.is_none());
        let excess = st.pending.saturating_sub(self.max_records) + new_marker;
        // In-flight keys are a prefix of `logs` (both ascend).
        let skip = st.logs.iter().take_while(|k| st.in_flight(**k)).count();
        let victims: Vec<u64> = st.logs.iter().skip(skip).take(excess).copied().collect();
        if victims.len() <= new_marker {
            // Nothing to gain: every record left is a status, in flight, or the marker.
            return Ok(());
        }
        let dropped = victims.len() as u64 + reuse.map_or(0, |m| m.dropped);
        let text = dropped_message(dropped);
        let template = self.marker_record(&text);
        let key = (&self.records, &self.meta).transaction(|(records, meta)| {
            for k in &victims {
                records.remove(&k.to_be_bytes())?;
            }
            let existing = match reuse {
                Some(m) => records
                    .get(m.key.to_be_bytes())?
                    .and_then(|v| Record::decode(v.as_ref()).ok())
                    .map(|r| (m.key, r)),
                None => None,
            };
            let key = match existing {
                Some((key, mut r)) => {
                    r.body.clone_from(&template.body);
                    r.observed_at.clone_from(&template.observed_at);
                    records.insert(&key.to_be_bytes(), r.encode_to_vec())?;
                    key
                }
                None => insert_new(records, meta, &template)?.0,
            };
            meta.insert(MARKER_KEY, marker_value(key, dropped).as_slice())?;
            Ok(key)
        })?;
        st.logs.drain(skip..skip + victims.len());
        st.pending -= victims.len();
        if st.marker.is_none_or(|m| m.key != key) {
            st.pending += 1;
        }
        st.marker = Some(Marker { key, dropped });
        Ok(())
    }

    fn marker_record(&self, text: &str) -> Record {
        Record {
            domain: self.domain.clone(),
            site: self.site.clone(),
            stream: LOG_STREAM.to_string(),
            observed_at: Some(now()),
            body: Some(record::Body::Log(LogLine {
                level: "warn".to_string(),
                message: text.to_string(),
                source: DROPPED_SOURCE.to_string(),
            })),
            ..Record::default()
        }
    }

    /// Appends a `log` record; a message over [`MAX_LOG_MESSAGE_BYTES`] is cut (and marked), so
    /// that one long line a process printed never makes a record the log server refuses.
    pub fn log(&self, level: &str, blueprint: &str, source: &str, message: impl Into<String>) {
        let mut message = message.into();
        if message.len() > MAX_LOG_MESSAGE_BYTES {
            message = maestro_common::text::truncated(&message, MAX_LOG_MESSAGE_BYTES);
        }
        let record = Record {
            blueprint: blueprint.to_string(),
            stream: LOG_STREAM.to_string(),
            body: Some(record::Body::Log(LogLine {
                level: level.to_string(),
                message,
                source: source.to_string(),
            })),
            ..Record::default()
        };
        if let Err(e) = self.append(record) {
            tracing::error!(error = %e, "cannot store log record");
        }
    }

    /// The count of changes to flush before the next push, when any: pass it to
    /// [`Outbox::flushed`] once a flush started after this call has finished.
    fn unflushed(&self) -> Option<u64> {
        let st = self.lock();
        (st.changes > st.flushed).then_some(st.changes)
    }

    /// Notes that a flush covered the changes counted up to `changes`.
    fn flushed(&self, changes: u64) {
        let mut st = self.lock();
        st.flushed = st.flushed.max(changes);
    }

    /// Number of records waiting.
    pub fn len(&self) -> usize {
        self.lock().pending
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on waiting records.
    pub fn max_records(&self) -> usize {
        self.max_records
    }

    /// The oldest waiting records with their keys, bounded by count and size; they are in flight
    /// (never dropped) until `ack` or `release`.
    fn peek(&self) -> Result<Vec<(sled::IVec, Record)>, Error> {
        self.peek_at_most(MAX_BATCH)
    }

    /// Like [`Outbox::peek`], at most `max` records (at least one when any waits).
    fn peek_at_most(&self, max: usize) -> Result<Vec<(sled::IVec, Record)>, Error> {
        let max = max.clamp(1, MAX_BATCH);
        let mut st = self.lock();
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.records.iter() {
            let (k, v) = item?;
            if !out.is_empty() && (out.len() >= max || bytes + v.len() > MAX_BATCH_BYTES) {
                break;
            }
            bytes += v.len();
            match Record::decode(v.as_ref()) {
                Ok(r) => out.push((k, r)),
                Err(e) => {
                    tracing::error!(error = %e, "dropping undecodable outbox record");
                    self.records.remove(&k)?;
                    let key = read_u64(Some(&k));
                    st.pending = st.pending.saturating_sub(1);
                    st.logs.retain(|l| *l != key);
                }
            }
        }
        st.in_flight_upto = out.last().map(|(k, _)| read_u64(Some(k)));
        Ok(out)
    }

    /// Removes acknowledged records (the batch `peek` returned).
    fn ack(&self, keys: &[sled::IVec]) -> Result<(), Error> {
        self.ack_removing(keys, &mut remove_key)
    }

    /// [`Outbox::ack`], removing a batch of heartbeats only with `remove`.
    fn ack_removing(&self, keys: &[sled::IVec], remove: Remove<'_>) -> Result<(), Error> {
        let mut st = self.lock();
        st.in_flight_upto = None;
        let Some(upto) = keys.iter().map(|k| read_u64(Some(k))).max() else {
            return Ok(());
        };
        let numbers: Vec<u64> = keys.iter().map(|k| read_u64(Some(k))).collect();
        if numbers.iter().all(|k| st.heartbeats.contains(k)) {
            // Heartbeats only: plain removes, which sled does not write at once (a heartbeat
            // that comes back after a crash is sent again and taken for a resend). Those not
            // removed stay pending: sent again (the log server takes them for resends) or
            // replaced by the next heartbeat.
            return self.remove_heartbeats(&mut st, &numbers, remove);
        }
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.clone());
        }
        self.records.apply_batch(batch)?;
        st.pending = st.pending.saturating_sub(keys.len());
        while st.logs.front().is_some_and(|k| *k <= upto) {
            st.logs.pop_front();
        }
        st.heartbeats.retain(|k| *k > upto);
        if st.marker.is_some_and(|m| m.key <= upto) {
            // Delivered: the next drop starts a new count.
            st.marker = None;
            self.meta.remove(MARKER_KEY)?;
        }
        Ok(())
    }

    /// The batch `peek` returned was not delivered; its records may be dropped again, and of the
    /// heartbeats only the newest is kept.
    fn release(&self) {
        let mut st = self.lock();
        st.in_flight_upto = None;
        let older: Vec<u64> = st.heartbeats.iter().rev().skip(1).copied().collect();
        for key in older {
            match self.records.remove(key.to_be_bytes()) {
                Ok(_) => {
                    st.heartbeats.remove(&key);
                    st.pending = st.pending.saturating_sub(1);
                }
                Err(e) => tracing::warn!(error = %e, "dropping an older heartbeat"),
            }
        }
    }
}

/// Stores `record` under the next key with the next sequence of its stream.
fn insert_new(
    records: &TransactionalTree,
    meta: &TransactionalTree,
    record: &Record,
) -> TxResult<(u64, u64)> {
    let seq_key = seq_key(&record.stream);
    let key = read_u64(meta.get(NEXT_KEY)?.as_deref());
    let seq = read_u64(meta.get(seq_key.as_bytes())?.as_deref()) + 1;
    let mut r = record.clone();
    r.sender_sequence = seq;
    records.insert(&key.to_be_bytes(), r.encode_to_vec())?;
    meta.insert(NEXT_KEY, &(key + 1).to_be_bytes())?;
    meta.insert(seq_key.as_bytes(), &seq.to_be_bytes())?;
    Ok((key, seq))
}

/// The meta key of `stream`'s last sender sequence.
fn seq_key(stream: &str) -> String {
    format!("{SEQ_PREFIX}{stream}")
}

/// Moves the stored heartbeat sequence one block on: heartbeats sent after the last flush before
/// a crash took sequences the disk does not know of, fewer than a block of them (none while the
/// stored sequence is 0: the first heartbeat is flushed before it is sent).
fn skip_unflushed_heartbeats(meta: &sled::Tree) -> Result<(), Error> {
    let key = seq_key(HEARTBEAT_STREAM);
    let stored = read_u64(meta.get(key.as_bytes())?.as_deref());
    if stored > 0 {
        let next = stored.saturating_add(HEARTBEAT_SEQUENCE_BLOCK);
        meta.insert(key.as_bytes(), &next.to_be_bytes())?;
    }
    Ok(())
}

/// Rebuilds the bookkeeping from the stored records (one scan on open).
fn load_state(records: &sled::Tree, meta: &sled::Tree) -> Result<State, Error> {
    let marker = meta
        .get(MARKER_KEY)?
        .and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok())
        .map(|b| Marker {
            key: read_u64(Some(&b[..8])),
            dropped: read_u64(Some(&b[8..])),
        });
    let mut st = State::default();
    for item in records.iter() {
        let (k, v) = item?;
        let key = read_u64(Some(&k));
        st.pending += 1;
        if marker.is_some_and(|m| m.key == key) {
            st.marker = marker;
            continue;
        }
        // Undecodable records count as pending until `peek` removes them.
        let Ok(r) = Record::decode(v.as_ref()) else {
            continue;
        };
        match r.stream.as_str() {
            LOG_STREAM => st.logs.push_back(key),
            HEARTBEAT_STREAM => {
                st.heartbeats.insert(key);
            }
            _ => {}
        }
    }
    Ok(st)
}

/// The message of the record standing for `n` dropped log records.
pub fn dropped_message(n: u64) -> String {
    format!("dropped {n} log records while the log server was unreachable")
}

fn marker_value(key: u64, dropped: u64) -> [u8; 16] {
    let mut v = [0; 16];
    v[..8].copy_from_slice(&key.to_be_bytes());
    v[8..].copy_from_slice(&dropped.to_be_bytes());
    v
}

fn now() -> prost_types::Timestamp {
    maestro_common::time::timestamp(maestro_common::time::now_millis())
}

fn read_u64(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}
