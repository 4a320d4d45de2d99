//! One subscriber: streams durable records after a cursor into a bounded channel, then (when
//! following) waits on the store's durable high-water mark for more. A full channel makes the task
//! wait (backpressure); a closed channel or shutdown ends it.
//!
//! Records removed by retention: when records after the subscriber's cursor have been removed
//! (its cursor is below [`RecordStore::removed_through`]), the subscriber gets a *retention notice*
//! before the next records, then the records that are still stored, from the oldest retained one
//! on (latest statuses are always among them). The notice is an ordinary `Record` so the proto
//! does not change (see [`retention_notice`]). The check runs before every batch, so a subscriber
//! that falls behind a running retention is told as well, once per newly removed range.

use crate::filter::RecordFilter;
use crate::store::RecordStore;
use maestro_proto::logs::v1 as proto;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Records buffered per subscriber before the task waits for the client.
pub(crate) const BUFFER: usize = 64;
/// Records read from sled per step.
const BATCH: usize = 256;
/// Records looked at per step when the filter rejects most of them.
const SCAN_BUDGET: usize = 4096;

/// Stream of the retention notice.
pub const RETENTION_NOTICE_STREAM: &str = "retention";
/// Source of the retention notice's log line.
pub const RETENTION_NOTICE_SOURCE: &str = "log-server";

/// What a subscriber asked for.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub after_sequence: u64,
    pub follow: bool,
    pub filter: RecordFilter,
}

type Sink = mpsc::Sender<Result<proto::Record, tonic::Status>>;

/// The message that tells a subscriber at `cursor` that records up to `removed_through` were
/// removed by retention. Recognisable by an empty `site` (stored records always have one) and
/// `stream == "retention"`; it is a `log` body at level `warn` from source `log-server`.
/// `sequence` is the subscriber's own cursor: it is not a stored record, and a client that
/// advances its cursor to it stays where it is, so nothing retained is skipped.
/// `sender_sequence` is 0 and `observed_at`/`received_at` are the time it was sent.
pub fn retention_notice(domain: &str, cursor: u64, removed_through: u64) -> proto::Record {
    let now = Some(prost_types::Timestamp::from(std::time::SystemTime::now()));
    proto::Record {
        sequence: cursor,
        domain: domain.to_string(),
        stream: RETENTION_NOTICE_STREAM.to_string(),
        observed_at: now,
        received_at: now,
        body: Some(proto::record::Body::Log(proto::LogLine {
            level: "warn".to_string(),
            message: format!(
                "records after sequence {cursor} up to {removed_through} were removed by \
                 retention (the latest status of every blueprint is kept); continuing with the \
                 oldest retained record"
            ),
            source: RETENTION_NOTICE_SOURCE.to_string(),
        })),
        ..Default::default()
    }
}

/// Runs the subscription until it is caught up (without follow), the client leaves, or shutdown.
pub(crate) async fn run(
    store: Arc<RecordStore>,
    domain: String,
    sub: Subscription,
    tx: Sink,
    shutdown: CancellationToken,
) {
    let mut durable = store.watch();
    let mut cursor = sub.after_sequence;
    // Removed records up to here have been reported (or were before the cursor).
    let mut told = cursor;
    loop {
        let upto = *durable.borrow_and_update();
        if cursor < upto {
            lag().record(upto - cursor, &[]);
            let page = match store.scan(cursor, upto, &sub.filter, BATCH, SCAN_BUDGET) {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, cursor, "subscription read failed");
                    let _ = tx.try_send(Err(crate::service::store_status(e)));
                    return;
                }
            };
            // Read after the scan: a record the scan missed because retention removed it is
            // at or below this (retention raises it before removing).
            let removed_through = store.removed_through();
            let notice = (removed_through > told)
                .then(|| retention_notice(&domain, cursor, removed_through));
            told = told.max(removed_through);
            for record in notice
                .into_iter()
                .chain(page.records.into_iter().map(Into::into))
            {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return end_on_shutdown(&tx),
                    sent = tx.send(Ok(record)) => if sent.is_err() { return },
                }
            }
            cursor = page.scanned_through;
            told = told.max(cursor);
            continue;
        }
        if !sub.follow {
            return;
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return end_on_shutdown(&tx),
            () = tx.closed() => return,
            changed = durable.changed() => if changed.is_err() { return },
        }
    }
}

/// `maestro.logserver.subscriber.lag`: how many durable records a subscriber was behind each time
/// it woke to send (its backlog; 1 for a subscriber that keeps up with single pushes).
fn lag() -> &'static opentelemetry::metrics::Histogram<u64> {
    static H: std::sync::OnceLock<opentelemetry::metrics::Histogram<u64>> =
        std::sync::OnceLock::new();
    H.get_or_init(|| {
        maestro_common::telemetry::metrics::meter()
            .u64_histogram("maestro.logserver.subscriber.lag")
            .with_unit("{record}")
            .with_description("Records a subscriber was behind when it woke to send")
            .with_boundaries(vec![
                1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 100000.0,
            ])
            .build()
    })
}

/// Tells a following client why its stream ends, without waiting on a full channel.
fn end_on_shutdown(tx: &Sink) {
    let _ = tx.try_send(Err(tonic::Status::unavailable(
        "log server is shutting down; resubscribe from your cursor",
    )));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, Record, SiteHeartbeat};
    use crate::store::Retention;
    use maestro_common::ResourceName;

    fn heartbeat(sender_sequence: u64) -> Record {
        Record {
            sequence: 0,
            domain: "d".into(),
            site: ResourceName::parse("site", "s1").unwrap(),
            blueprint: None,
            generation: 0,
            stream: "heartbeat".into(),
            sender_sequence,
            observed_at: None,
            received_at: None,
            intent_id: String::new(),
            order_id: String::new(),
            body: Body::Heartbeat(SiteHeartbeat {
                blueprints: 0,
                ..SiteHeartbeat::default()
            }),
        }
    }

    fn is_notice(r: &proto::Record) -> bool {
        r.site.is_empty() && r.stream == RETENTION_NOTICE_STREAM
    }

    async fn drain(
        mut rx: mpsc::Receiver<Result<proto::Record, tonic::Status>>,
    ) -> Vec<proto::Record> {
        let mut out = Vec::new();
        while let Some(r) = rx.recv().await {
            out.push(r.unwrap());
        }
        out
    }

    fn subscription(after_sequence: u64) -> Subscription {
        Subscription {
            after_sequence,
            follow: false,
            filter: RecordFilter::default(),
        }
    }

    #[tokio::test]
    async fn a_cursor_before_removed_records_gets_a_notice_first_then_what_is_retained() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RecordStore::open(dir.path()).unwrap());
        store
            .append((1..=10).map(heartbeat).collect())
            .await
            .unwrap();
        let policy = Retention {
            max_records: Some(4),
            ..Retention::default()
        };
        store.apply_retention(&policy, 0).await.unwrap();
        let (tx, rx) = mpsc::channel(BUFFER);
        let task = tokio::spawn(run(
            store.clone(),
            "d".into(),
            subscription(2),
            tx,
            CancellationToken::new(),
        ));
        let got = drain(rx).await;
        task.await.unwrap();
        assert!(is_notice(&got[0]), "{:?}", got[0]);
        assert_eq!(
            got[0].sequence, 2,
            "the notice carries the subscriber's own cursor"
        );
        assert_eq!(got[0].domain, "d");
        let Some(proto::record::Body::Log(line)) = &got[0].body else {
            panic!("notice has a log body");
        };
        assert_eq!(
            (line.level.as_str(), line.source.as_str()),
            ("warn", RETENTION_NOTICE_SOURCE)
        );
        assert!(
            line.message.contains("after sequence 2 up to 6"),
            "{}",
            line.message
        );
        let rest: Vec<u64> = got[1..].iter().map(|r| r.sequence).collect();
        assert_eq!(rest, vec![7, 8, 9, 10]);
        assert!(!got[1..].iter().any(is_notice));

        // A cursor at or past the removed records gets no notice.
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(run(
            store,
            "d".into(),
            subscription(6),
            tx,
            CancellationToken::new(),
        ));
        let got = drain(rx).await;
        assert_eq!(
            got.iter().map(|r| r.sequence).collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
    }

    #[tokio::test]
    async fn a_subscriber_overtaken_by_retention_is_told_before_the_next_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RecordStore::open(dir.path()).unwrap());
        let total = BATCH as u64 + 44;
        store
            .append((1..=total).map(heartbeat).collect())
            .await
            .unwrap();
        // A slow client: one record in flight at a time.
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(run(
            store.clone(),
            "d".into(),
            subscription(0),
            tx,
            CancellationToken::new(),
        ));
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!(first.sequence, 1);
        // While it reads its first batch, retention removes all but the last 20 records.
        let policy = Retention {
            max_records: Some(20),
            ..Retention::default()
        };
        store.apply_retention(&policy, 0).await.unwrap();
        let got = drain(rx).await;
        task.await.unwrap();
        let batch = BATCH as u64;
        // The batch already read is delivered; then the notice; then what is left.
        let notice = got.iter().position(is_notice).expect("a notice");
        assert_eq!(
            got[..notice].iter().map(|r| r.sequence).collect::<Vec<_>>(),
            (2..=batch).collect::<Vec<_>>()
        );
        assert_eq!(got[notice].sequence, batch);
        assert_eq!(
            got[notice + 1..]
                .iter()
                .map(|r| r.sequence)
                .collect::<Vec<_>>(),
            (total - 19..=total).collect::<Vec<_>>()
        );
    }
}
