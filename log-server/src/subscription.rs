//! One subscriber: streams durable records after a cursor into a bounded channel, then (when
//! following) waits on the store's durable high-water mark for more. A full channel makes the task
//! wait (backpressure); a closed channel or shutdown ends it.

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

/// What a subscriber asked for.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub after_sequence: u64,
    pub follow: bool,
    pub filter: RecordFilter,
}

type Sink = mpsc::Sender<Result<proto::Record, tonic::Status>>;

/// Runs the subscription until it is caught up (without follow), the client leaves, or shutdown.
pub(crate) async fn run(
    store: Arc<RecordStore>,
    sub: Subscription,
    tx: Sink,
    shutdown: CancellationToken,
) {
    let mut durable = store.watch();
    let mut cursor = sub.after_sequence;
    loop {
        let upto = *durable.borrow_and_update();
        if cursor < upto {
            let page = match store.scan(cursor, upto, &sub.filter, BATCH, SCAN_BUDGET) {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, cursor, "subscription read failed");
                    let _ = tx.try_send(Err(crate::service::store_status(e)));
                    return;
                }
            };
            for record in page.records {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return end_on_shutdown(&tx),
                    sent = tx.send(Ok(record.into())) => if sent.is_err() { return },
                }
            }
            cursor = page.scanned_through;
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

/// Tells a following client why its stream ends, without waiting on a full channel.
fn end_on_shutdown(tx: &Sink) {
    let _ = tx.try_send(Err(tonic::Status::unavailable(
        "log server is shutting down; resubscribe from your cursor",
    )));
}
