//! The on-disk outbox of records for the log server, and the task that drains it.
//!
//! Invariants: a record is numbered (per-stream `sender_sequence`) and stored in sled in one
//! transaction, so numbers are never reused across restarts; records leave the outbox only after
//! the log server acknowledged them, in the order they were appended.

use std::sync::Arc;
use std::time::Duration;

use maestro_common::backoff::Backoff;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_proto::logs::v1::{LogLine, PushRequest, Record, record};
use prost::Message;
use sled::Transactional;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Error;

const NEXT_KEY: &[u8] = b"outbox-next";
const SEQ_PREFIX: &str = "seq/";
/// Most records sent in one Push.
const MAX_BATCH: usize = 200;
/// Most encoded bytes sent in one Push (well under the servers' 4 MiB limit).
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Durable queue of records waiting for the log server. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    records: sled::Tree,
    meta: sled::Tree,
    notify: Arc<Notify>,
    domain: String,
    site: String,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("site", &self.site)
            .field("pending", &self.len())
            .finish()
    }
}

impl Outbox {
    /// Opens the outbox trees of `db`; records get `domain` and `site` filled in.
    pub fn open(db: &sled::Db, domain: &str, site: &str) -> Result<Self, Error> {
        Ok(Self {
            records: db.open_tree("outbox")?,
            meta: db.open_tree("outbox-meta")?,
            notify: Arc::new(Notify::new()),
            domain: domain.to_string(),
            site: site.to_string(),
        })
    }

    /// Stores `record` (filling domain, site, sender_sequence and, when absent, observed_at)
    /// and returns its sender_sequence.
    pub fn append(&self, mut record: Record) -> Result<u64, Error> {
        record.domain.clone_from(&self.domain);
        record.site.clone_from(&self.site);
        if record.observed_at.is_none() {
            record.observed_at = Some(maestro_common::time::timestamp(
                maestro_common::time::now_millis(),
            ));
        }
        let seq_key = format!("{SEQ_PREFIX}{}", record.stream);
        let seq = (&self.records, &self.meta).transaction(|(records, meta)| {
            let next = read_u64(meta.get(NEXT_KEY)?.as_deref());
            let seq = read_u64(meta.get(seq_key.as_bytes())?.as_deref()) + 1;
            let mut r = record.clone();
            r.sender_sequence = seq;
            records.insert(&next.to_be_bytes(), r.encode_to_vec())?;
            meta.insert(NEXT_KEY, &(next + 1).to_be_bytes())?;
            meta.insert(seq_key.as_bytes(), &seq.to_be_bytes())?;
            Ok::<u64, sled::transaction::ConflictableTransactionError<Error>>(seq)
        })?;
        self.notify.notify_one();
        Ok(seq)
    }

    /// Appends a `log` record.
    pub fn log(&self, level: &str, blueprint: &str, source: &str, message: impl Into<String>) {
        let record = Record {
            blueprint: blueprint.to_string(),
            stream: "log".to_string(),
            body: Some(record::Body::Log(LogLine {
                level: level.to_string(),
                message: message.into(),
                source: source.to_string(),
            })),
            ..Record::default()
        };
        if let Err(e) = self.append(record) {
            tracing::error!(error = %e, "cannot store log record");
        }
    }

    /// Number of records waiting.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The oldest waiting records with their keys, bounded by count and size.
    fn peek(&self) -> Result<Vec<(sled::IVec, Record)>, Error> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.records.iter() {
            let (k, v) = item?;
            if !out.is_empty() && (out.len() >= MAX_BATCH || bytes + v.len() > MAX_BATCH_BYTES) {
                break;
            }
            bytes += v.len();
            match Record::decode(v.as_ref()) {
                Ok(r) => out.push((k, r)),
                Err(e) => {
                    tracing::error!(error = %e, "dropping undecodable outbox record");
                    self.records.remove(k)?;
                }
            }
        }
        Ok(out)
    }

    /// Removes acknowledged records.
    fn ack(&self, keys: &[sled::IVec]) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.clone());
        }
        self.records.apply_batch(batch)?;
        Ok(())
    }
}

fn read_u64(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Pushes outbox records to the log server at `endpoint` in order until `shutdown`, retrying with
/// backoff while it is unreachable. Records stay on disk until acknowledged.
pub async fn run_sender(outbox: Outbox, endpoint: String, shutdown: CancellationToken) {
    let channel = match maestro_common::grpc::channel(&endpoint) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, endpoint, "invalid log server endpoint; records stay in the outbox");
            return;
        }
    };
    let mut client = LogServiceClient::new(channel)
        .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES);
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        let notified = outbox.notify.notified();
        let batch = match outbox.peek() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading outbox");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = notified => continue,
                // Re-check now and then in case a notification raced with the read.
                () = tokio::time::sleep(Duration::from_secs(5)) => continue,
            }
        }
        let (keys, records): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let push = client.push(PushRequest { records });
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            r = push => r,
        };
        match result {
            Ok(_) => {
                backoff.reset();
                if let Err(e) = outbox.ack(&keys) {
                    tracing::error!(error = %e, "removing acknowledged records");
                }
            }
            Err(status) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %status.message(), code = ?status.code(), retry_in_ms = delay.as_millis() as u64,
                    pending = outbox.len(), "log server push failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sequences_are_per_stream_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let o = Outbox::open(&db, "d", "s").unwrap();
            assert_eq!(
                o.append(Record {
                    stream: "log".into(),
                    ..Record::default()
                })
                .unwrap(),
                1
            );
            assert_eq!(
                o.append(Record {
                    stream: "status".into(),
                    ..Record::default()
                })
                .unwrap(),
                1
            );
            assert_eq!(
                o.append(Record {
                    stream: "log".into(),
                    ..Record::default()
                })
                .unwrap(),
                2
            );
            let batch = o.peek().unwrap();
            assert_eq!(batch.len(), 3);
            o.ack(&[batch[0].0.clone()]).unwrap();
            db.flush().unwrap();
        }
        // sled may hold its lock a moment after the last handle is dropped.
        let db = crate::agent::open_db(dir.path()).await.unwrap();
        let o = Outbox::open(&db, "d", "s").unwrap();
        let batch = o.peek().unwrap();
        let seqs: Vec<_> = batch
            .iter()
            .map(|(_, r)| (r.stream.clone(), r.sender_sequence))
            .collect();
        assert_eq!(
            seqs,
            vec![("status".to_string(), 1), ("log".to_string(), 2)]
        );
        assert_eq!(batch[0].1.site, "s");
        assert_eq!(
            o.append(Record {
                stream: "log".into(),
                ..Record::default()
            })
            .unwrap(),
            3
        );
    }
}
