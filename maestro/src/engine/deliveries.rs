//! The engine's side of delivery: it hands outbox entries to the delivery component (new ones
//! from CreateOrder, every stored one at start), tells it when a domain changed, and records
//! the reports that come back. A final outcome (acknowledged, rejected) removes the entry from
//! the outbox in the transaction that records it; if that fails, the entry is delivered again.

use super::Engine;
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
        let engine = self.clone();
        self.tasks()
            .spawn(async move { engine.record_reports(reports).await });
        let engine = self.clone();
        self.tasks()
            .spawn(async move { engine.record_status_events(statuses).await });
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

    async fn record_reports(&self, mut reports: mpsc::Receiver<DeliveryReport>) {
        loop {
            let report = tokio::select! {
                r = reports.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
                () = self.shutdown().cancelled() => return,
            };
            self.record_delivery(report).await;
        }
    }

    /// Records one delivery report on its order and rolls the order up.
    pub(crate) async fn record_delivery(&self, report: DeliveryReport) {
        let done = report.is_final();
        let DeliveryReport { entry, outcome } = report;
        let (delivery, message) = match outcome {
            DeliveryOutcome::Acknowledged => (Delivery::Acknowledged, String::new()),
            DeliveryOutcome::Rejected(reason) => (Delivery::Rejected, reason),
            DeliveryOutcome::Failed { error, .. } => (Delivery::Pending, error),
        };
        let mark = |o: &mut Order| record(o, &entry, delivery, &message);
        let stored = self
            .reroll(&entry.order_id, done.then_some(&entry), mark)
            .await;
        match stored {
            Err(e) if done => {
                tracing::error!(order.id = %entry.order_id, domain = %entry.domain, error = %e, "recording a delivery failed; delivering again");
                self.inner.deliveries.deliver(entry).await;
            }
            Err(e) => {
                tracing::warn!(order.id = %entry.order_id, domain = %entry.domain, error = %e, "recording a failed attempt failed")
            }
            Ok(_) => {}
        }
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
