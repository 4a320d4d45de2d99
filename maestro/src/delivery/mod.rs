//! Delivery of intents to domains, as its own component. It is fed outbox entries (and news
//! that a domain changed) through a channel, runs one retrying delivery per entry with backoff
//! (at most one per entry at a time), and reports every outcome back as data: an
//! acknowledgement, a rejection, or a failed attempt that will be retried. It never touches the
//! store; whoever consumes the reports records them (and removes the entry from the outbox
//! together with its final outcome).
//!
//! A domain that registers again or is heard again retries its pending entries at once.

mod client;
mod dispatcher;
#[cfg(test)]
mod tests;

pub use client::{DeliveryError, DomainClient, TonicDomainClient};

use crate::intent::OutboxEntry;
use maestro_common::backoff::Backoff;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How much work and how many reports may wait in their channels.
const QUEUE: usize = 1024;

/// What delivery is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryWork {
    /// Deliver this entry until the domain acknowledges or rejects it (ignored while the same
    /// entry is being delivered, repeated once after it when it arrives again meanwhile).
    Deliver(Box<OutboxEntry>),
    /// This domain registered again or was heard again: retry its entries now.
    DomainChanged(String),
}

/// How one attempt, or a whole delivery, ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The domain acknowledged the intent (final).
    Acknowledged,
    /// The domain refused the intent (final).
    Rejected(String),
    /// An attempt failed; another follows after a backoff.
    Failed {
        /// Attempts made for this entry so far, this one included.
        attempt: u32,
        /// Why it failed.
        error: String,
    },
}

/// An outcome for one outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The entry.
    pub entry: OutboxEntry,
    /// What happened.
    pub outcome: DeliveryOutcome,
}

impl DeliveryReport {
    /// Whether delivery of the entry ended (the entry may leave the outbox).
    pub fn is_final(&self) -> bool {
        !matches!(self.outcome, DeliveryOutcome::Failed { .. })
    }
}

/// Where delivery work is sent.
#[derive(Debug, Clone)]
pub struct DeliveryQueue {
    work: mpsc::Sender<DeliveryWork>,
}

impl DeliveryQueue {
    /// Asks for `entry` to be delivered.
    pub async fn deliver(&self, entry: OutboxEntry) {
        self.send(DeliveryWork::Deliver(Box::new(entry))).await;
    }

    /// Tells delivery that `domain` registered again or was heard again.
    pub async fn domain_changed(&self, domain: &str) {
        self.send(DeliveryWork::DomainChanged(domain.to_string()))
            .await;
    }

    async fn send(&self, work: DeliveryWork) {
        if self.work.send(work).await.is_err() {
            // Delivery stopped: we are shutting down, and the outbox keeps the entry.
            tracing::debug!("delivery stopped; work dropped");
        }
    }
}

/// Starts delivery with `client`, a fresh copy of `backoff` per entry; it stops when
/// `shutdown` is cancelled. Returns where to send work and where reports arrive.
pub fn start(
    client: Arc<dyn DomainClient>,
    backoff: Backoff,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> (DeliveryQueue, mpsc::Receiver<DeliveryReport>) {
    let (work_tx, work_rx) = mpsc::channel(QUEUE);
    let (report_tx, report_rx) = mpsc::channel(QUEUE);
    let dispatcher = dispatcher::Dispatcher::new(client, backoff, shutdown, report_tx);
    tasks.spawn(dispatcher.run(work_rx));
    (DeliveryQueue { work: work_tx }, report_rx)
}
