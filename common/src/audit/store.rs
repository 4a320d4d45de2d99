//! The audit log in sled: entries in the tree [`AuditLog::ENTRIES_TREE`] and checkpoints in
//! [`AuditLog::CHECKPOINTS_TREE`] of the component's own database, both keyed by the
//! big-endian sequence number (so key order is sequence order), values JSON.
//!
//! Invariants: sequence numbers are assigned, chained and inserted under one lock, so the tree
//! never holds entry n+1 without entry n; [`AuditLog::record`] returns only after a flush that
//! covers the entry.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::checkpoint::Checkpoint;
use super::entry::{Digest, Entry, Outcome, Record, Target};
use super::key::AuditKey;
use crate::manifest::PublicKey;

/// Most entries one [`AuditLog::list`] call reads, matching or not.
pub const MAX_SCAN: usize = 10_000;

/// The head of the chain, as the next append needs it.
#[derive(Debug, Clone, Copy)]
struct Head {
    seq: u64,
    hash: Digest,
    time_ms: i64,
    /// The last entry a checkpoint covers.
    signed: u64,
}

#[derive(Debug)]
struct Inner {
    /// The database of both trees: a flush is of the whole database.
    db: sled::Db,
    entries: sled::Tree,
    checkpoints: sled::Tree,
    key: AuditKey,
    every: u64,
    head: Mutex<Head>,
}

/// A component's audit log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

/// Which entries [`AuditLog::list`] returns; every filter set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The caller's URI, or its last part(s) (`operator/ada`, `ada`).
    pub who: Option<String>,
    /// A call name (ASCII case ignored) or the id of one of the targets.
    pub what: Option<String>,
    /// At or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At or before this time.
    pub until_ms: Option<i64>,
}

impl Filter {
    /// Whether `entry` matches.
    pub fn matches(&self, entry: &Entry) -> bool {
        let who = self.who.as_deref().is_none_or(|w| {
            entry.who == w
                || entry
                    .who
                    .strip_suffix(w)
                    .is_some_and(|head| head.ends_with('/'))
        });
        let what = self.what.as_deref().is_none_or(|w| {
            entry.call.eq_ignore_ascii_case(w) || entry.targets.iter().any(|t| t.id == w)
        });
        who && what
            && self.since_ms.is_none_or(|t| entry.time_ms >= t)
            && self.until_ms.is_none_or(|t| entry.time_ms <= t)
    }
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> u64 {
    <[u8; 8]>::try_from(key).map_or(0, u64::from_be_bytes)
}

/// The entry stored under `key`; one that does not decode comes back as an entry that records
/// why, with a zero hash, so that verification names it instead of skipping it.
fn decode_entry(key: &[u8], raw: &[u8]) -> Entry {
    serde_json::from_slice(raw).unwrap_or_else(|e| Entry {
        seq: seq_of(key),
        time_ms: 0,
        who: String::new(),
        call: String::new(),
        targets: Vec::new(),
        outcome: Outcome {
            code: "UNREADABLE".into(),
            message: format!("the stored entry does not decode: {e}"),
        },
        prev: Digest::GENESIS,
        hash: Digest::GENESIS,
    })
}

fn noted<T>(r: Result<T, sled::Error>) -> Result<T, sled::Error> {
    r.inspect_err(crate::durable::note_failure)
}

/// The reply to call `call` whose outcome is `result` and whose audit entry was stored, or not
/// (`stored`): see [`AuditLog::recorded`].
fn answer<T>(
    call: &str,
    result: Result<T, tonic::Status>,
    stored: Result<(), sled::Error>,
) -> Result<T, tonic::Status> {
    let Err(e) = stored else {
        return result;
    };
    tracing::error!(call, error = %e, "the call could not be recorded in the audit log");
    result?;
    let cause = if crate::durable::is_storage_full(&e) {
        "the disk is full".to_string()
    } else {
        e.to_string()
    };
    Err(tonic::Status::new(
        crate::durable::status(call, &e).code(),
        format!(
            "{call}: its audit entry could not be stored ({cause}); the call was carried out but is not acknowledged, retry later"
        ),
    ))
}

impl AuditLog {
    /// The sled tree of the entries.
    pub const ENTRIES_TREE: &'static str = "audit";
    /// The sled tree of the checkpoints.
    pub const CHECKPOINTS_TREE: &'static str = "audit_checkpoints";

    /// Opens the log in `db`'s audit trees, signing with `key` every `every` entries (at least 1),
    /// and finds its head (the last entry and checkpoint).
    pub fn open_in(db: &sled::Db, key: AuditKey, every: u64) -> Result<Self, sled::Error> {
        let entries = db.open_tree(Self::ENTRIES_TREE)?;
        let checkpoints = db.open_tree(Self::CHECKPOINTS_TREE)?;
        let mut head = Head {
            seq: 0,
            hash: Digest::GENESIS,
            time_ms: 0,
            signed: 0,
        };
        if let Some((k, raw)) = noted(entries.last())? {
            let last = decode_entry(&k, &raw);
            head.seq = seq_of(&k);
            head.time_ms = last.time_ms;
            head.hash = if last.hash == Digest::GENESIS {
                tracing::error!(
                    seq = head.seq,
                    "the last audit entry does not decode; the next one chains to its stored bytes"
                );
                Digest::of(&raw)
            } else {
                last.hash
            };
        }
        if let Some((k, _)) = noted(checkpoints.last())? {
            head.signed = seq_of(&k);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                db: db.clone(),
                entries,
                checkpoints,
                key,
                every: every.max(1),
                head: Mutex::new(head),
            }),
        })
    }

    /// The public key of the checkpoints.
    pub fn public_key(&self) -> PublicKey {
        self.inner.key.public()
    }

    /// The last entry's sequence and hash.
    pub fn head(&self) -> (u64, Digest) {
        let h = self.lock();
        (h.seq, h.hash)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Head> {
        self.inner
            .head
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `record` as the next entry (and a checkpoint when one is due), not flushed yet.
    pub fn append(&self, record: Record) -> Result<Entry, sled::Error> {
        let mut head = self.lock();
        let time_ms = crate::time::now_millis().max(head.time_ms);
        let entry = Entry::new(head.seq + 1, time_ms, head.hash, record);
        let value = serde_json::to_vec(&entry)
            .map_err(|e| sled::Error::ReportableBug(format!("encoding an audit entry: {e}")))?;
        noted(self.inner.entries.insert(key(entry.seq), value))?;
        head.seq = entry.seq;
        head.hash = entry.hash;
        head.time_ms = time_ms;
        if head.seq - head.signed >= self.inner.every {
            self.sign_head(&mut head)?;
        }
        Ok(entry)
    }

    fn sign_head(&self, head: &mut Head) -> Result<Checkpoint, sled::Error> {
        let time_ms = crate::time::now_millis();
        let cp = Checkpoint::sign(self.inner.key.signing(), head.seq, head.hash, time_ms);
        let value = serde_json::to_vec(&cp).map_err(|e| {
            sled::Error::ReportableBug(format!("encoding an audit checkpoint: {e}"))
        })?;
        noted(self.inner.checkpoints.insert(key(cp.seq), value))?;
        head.signed = head.seq;
        Ok(cp)
    }

    /// Flushes the database of the log (every tree of it) to disk.
    pub async fn flush(&self) -> Result<(), sled::Error> {
        crate::durable::flush(&self.inner.db).await.map(|_| ())
    }

    /// Appends `record` and flushes it: once this returns `Ok`, the entry survives a crash.
    pub async fn record(&self, record: Record) -> Result<Entry, sled::Error> {
        let entry = self.append(record)?;
        self.flush().await?;
        Ok(entry)
    }

    /// Records the call `call` of `who` on `targets` with the outcome of `result`, then hands
    /// `result` back; the reply waits for the entry to be on disk. When the entry cannot be
    /// stored, a call that failed keeps its own error, and a call that succeeded is answered
    /// with the storage error instead of its reply: no call is acknowledged without its entry
    /// (the change itself happened; an idempotent retry is recorded).
    pub async fn recorded<T>(
        &self,
        who: &str,
        call: &str,
        targets: Vec<Target>,
        result: Result<T, tonic::Status>,
    ) -> Result<T, tonic::Status> {
        let record = Record::new(who, call, targets, Outcome::of(&result));
        let stored = self.record(record).await.map(|_| ());
        answer(call, result, stored)
    }

    /// [`Self::recorded`] for a call whose change is written but not flushed yet (`written`):
    /// the entry is appended first, then `acknowledge` (which flushes the change and does what
    /// follows it) and the log's flush run together. When the log is in the change's database,
    /// one flush makes both durable instead of one after the other. The entry records the
    /// outcome of the write; the reply waits for both flushes and is answered as by
    /// [`Self::recorded`].
    pub async fn recorded_after_write<W, T, F>(
        &self,
        who: &str,
        call: &str,
        targets: Vec<Target>,
        written: Result<W, tonic::Status>,
        acknowledge: impl FnOnce(W) -> F,
    ) -> Result<T, tonic::Status>
    where
        F: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let record = Record::new(who, call, targets, Outcome::of(&written));
        let appended = self.append(record);
        let (result, flushed) = match written {
            Ok(w) => tokio::join!(acknowledge(w), self.flush()),
            Err(e) => (Err(e), self.flush().await),
        };
        answer(call, result, appended.and(flushed))
    }

    /// Signs a checkpoint of the head if entries arrived since the last one, and flushes it.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, sled::Error> {
        let cp = {
            let mut head = self.lock();
            if head.seq == head.signed {
                return Ok(None);
            }
            self.sign_head(&mut head)?
        };
        self.flush().await?;
        Ok(Some(cp))
    }

    /// Entries after sequence `after` that match `filter`, at most `limit`, reading at most
    /// [`MAX_SCAN`] entries; with the sequence to continue after when the log goes on.
    pub fn list(
        &self,
        filter: &Filter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Entry>, Option<u64>), sled::Error> {
        let mut found = Vec::new();
        let mut last = after;
        let start = after.saturating_add(1);
        for (scanned, item) in self.inner.entries.range(key(start)..).enumerate() {
            if found.len() >= limit || scanned >= MAX_SCAN {
                return Ok((found, Some(last)));
            }
            let (k, raw) = noted(item)?;
            last = seq_of(&k);
            let entry = decode_entry(&k, &raw);
            if filter.matches(&entry) {
                found.push(entry);
            }
        }
        Ok((found, None))
    }

    /// Up to `limit` entries stored under keys after `after` and at most `up_to`, in key
    /// order, as stored (undecodable ones as entries that say so), with the last key read.
    pub fn entries(
        &self,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<(Vec<Entry>, Option<u64>), sled::Error> {
        let mut out = Vec::new();
        let mut last = None;
        if after >= up_to {
            return Ok((out, last));
        }
        for item in self
            .inner
            .entries
            .range(key(after + 1)..=key(up_to))
            .take(limit)
        {
            let (k, raw) = noted(item)?;
            last = Some(seq_of(&k));
            out.push(decode_entry(&k, &raw));
        }
        Ok((out, last))
    }

    /// Every checkpoint of at most entry `up_to`; one that does not decode is left out (and
    /// logged): verification then finds the log less signed, never more.
    pub fn checkpoints(&self, up_to: u64) -> Result<Vec<Checkpoint>, sled::Error> {
        let mut out = Vec::new();
        for item in self.inner.checkpoints.range(..=key(up_to)) {
            let (k, raw) = noted(item)?;
            match serde_json::from_slice(&raw) {
                Ok(cp) => out.push(cp),
                Err(e) => {
                    tracing::error!(seq = seq_of(&k), error = %e, "an audit checkpoint does not decode");
                }
            }
        }
        Ok(out)
    }
}

/// Signs a checkpoint every `interval` while new entries arrived, and once more when `shutdown`
/// is cancelled, so that a cleanly stopped component leaves no unsigned tail.
pub async fn run_checkpoints(
    log: AuditLog,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(e) = log.checkpoint().await {
            tracing::error!(error = %e, "signing an audit checkpoint failed");
        }
    }
    if let Err(e) = log.checkpoint().await {
        tracing::error!(error = %e, "signing the final audit checkpoint failed");
    }
}
