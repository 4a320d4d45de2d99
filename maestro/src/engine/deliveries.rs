//! The engine's side of delivery: it hands outbox entries to the delivery component (new ones
//! from CreateOrder, every stored one at start), tells it when a domain changed, and turns the
//! reports that come back into marks on their orders. A final outcome (acknowledged, rejected)
//! removes the entry from the outbox in the transaction that records it; if that fails, the
//! entry is delivered again. Reports are recorded in the roll-up loop's rounds, with the status
//! events ([`super::rounds`]).

use super::Engine;
use super::rounds::Inbox;
use crate::delivery::{DeliveryOutcome, DeliveryReport};
use crate::error::StoreError;
use crate::intent::OutboxEntry;
use crate::model::{Delivery, Order};
use crate::registry::DomainEvent;
use crate::status_watch::StatusEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

impl Engine {
    /// Starts the engine's loops: records the delivery `reports` and the `statuses` events,
    /// forwards domain changes to delivery, and resumes every entry left in the outbox (after a
    /// restart). Returns how many entries were resumed.
    pub async fn start(
        &self,
        reports: mpsc::Receiver<DeliveryReport>,
        statuses: mpsc::Receiver<StatusEvent>,
    ) -> Result<usize, StoreError> {
        let events = self.registry().subscribe();
        let inbox = Inbox::new(reports, statuses);
        let engine = self.clone();
        self.tasks()
            .spawn(async move { engine.record_rounds(inbox).await });
        let engine = self.clone();
        self.tasks()
            .spawn(async move { engine.forward_domain_changes(events).await });
        let entries = self.store().outbox()?;
        let resumed = entries.len();
        for entry in entries {
            self.inner.deliveries.deliver(entry).await;
        }
        Ok(resumed)
    }

    async fn forward_domain_changes(
        &self,
        mut events: tokio::sync::broadcast::Receiver<DomainEvent>,
    ) {
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                () = self.shutdown().cancelled() => return,
            };
            match event {
                Ok(DomainEvent::Registered(r)) => self.inner.deliveries.domain_changed(&r.id).await,
                Ok(DomainEvent::BackOnline(id)) => self.inner.deliveries.domain_changed(&id).await,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// What delivery reports mark on their order, in arrival order: each entry, its delivery state
/// and the message.
pub(super) type Marks = Vec<(OutboxEntry, Delivery, String)>;

/// `reports` as the entries whose delivery ended and the marks to record.
pub(super) fn marks(reports: Vec<DeliveryReport>) -> (Vec<OutboxEntry>, Marks) {
    let done = reports
        .iter()
        .filter(|r| r.is_final())
        .map(|r| r.entry.clone())
        .collect();
    let marks = reports
        .into_iter()
        .map(|DeliveryReport { entry, outcome }| {
            let (delivery, message) = match outcome {
                DeliveryOutcome::Acknowledged => (Delivery::Acknowledged, String::new()),
                DeliveryOutcome::Rejected(reason) => (Delivery::Rejected, reason),
                DeliveryOutcome::Failed { error, .. } => (Delivery::Pending, error),
            };
            (entry, delivery, message)
        })
        .collect();
    (done, marks)
}

/// `reports` grouped by order, each group in arrival order, the groups in the order of their
/// first report.
pub(super) fn by_order(reports: Vec<DeliveryReport>) -> Vec<(String, Vec<DeliveryReport>)> {
    let mut groups: Vec<(String, Vec<DeliveryReport>)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for report in reports {
        let i = *index
            .entry(report.entry.order_id.clone())
            .or_insert_with(|| {
                groups.push((report.entry.order_id.clone(), Vec::new()));
                groups.len() - 1
            });
        groups[i].1.push(report);
    }
    groups
}

/// Records the outcome of one attempt on the item's progress for the entry's domain (once it
/// is final, later reports change nothing).
pub(crate) fn record(order: &mut Order, entry: &OutboxEntry, delivery: Delivery, message: &str) {
    let Some(item) = order.items.iter_mut().find(|i| i.id == entry.item_id) else {
        return;
    };
    let Some(dp) = item.domains.iter_mut().find(|d| d.domain == entry.domain) else {
        return;
    };
    // A rollout sends an item's intent again as sites move: a later refusal still counts.
    if dp.delivery != Delivery::Pending && delivery != Delivery::Rejected {
        return;
    }
    dp.delivery = delivery;
    dp.delivery_attempts = dp.delivery_attempts.saturating_add(1);
    dp.message = message.to_string();
}
