//! The engine's side of delivery: it hands outbox entries to the delivery component (new ones
//! from CreateOrder, every stored one at start), tells it when a domain changed, and records
//! the reports that come back. A final outcome (acknowledged, rejected) removes the entry from
//! the outbox in the transaction that records it; if that fails, the entry is delivered again.
//! Reports that arrived meanwhile are recorded together: one roll-up and one flush per order,
//! at the loops' pace ([`super::pace`]).

use super::Engine;
use crate::delivery::{DeliveryOutcome, DeliveryReport};
use crate::error::StoreError;
use crate::intent::OutboxEntry;
use crate::model::{Delivery, Order};
use crate::registry::DomainEvent;
use crate::status_watch::StatusEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Most delivery reports recorded together.
const REPORT_BATCH: usize = 1024;

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
        let mut batch = Vec::with_capacity(REPORT_BATCH);
        loop {
            let taken = self
                .next_round(&mut reports, &mut batch, REPORT_BATCH)
                .await;
            if taken == 0 {
                return;
            }
            let started = tokio::time::Instant::now();
            self.record_deliveries(std::mem::take(&mut batch)).await;
            self.inner.pace.ran(started, tokio::time::Instant::now());
        }
    }

    /// Records delivery reports on their orders: those of one order in one roll-up, one
    /// transaction and one flush (a fan-out's acknowledgements arrive together).
    pub(crate) async fn record_deliveries(&self, reports: Vec<DeliveryReport>) {
        for (order_id, reports) in by_order(reports) {
            let done: Vec<OutboxEntry> = reports
                .iter()
                .filter(|r| r.is_final())
                .map(|r| r.entry.clone())
                .collect();
            let marks: Vec<(OutboxEntry, Delivery, String)> = reports
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
            let mark = |o: &mut Order| {
                for (entry, delivery, message) in &marks {
                    record(o, entry, *delivery, message);
                }
            };
            match self.reroll(&order_id, &done, mark).await {
                Err(e) if !done.is_empty() => {
                    tracing::error!(order.id = %order_id, deliveries = done.len(), error = %e, "recording deliveries failed; delivering again");
                    for entry in done {
                        self.inner.deliveries.deliver(entry).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(order.id = %order_id, error = %e, "recording failed attempts failed")
                }
                Ok(_) => {}
            }
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

/// `reports` grouped by order, each group in arrival order, the groups in the order of their
/// first report.
fn by_order(reports: Vec<DeliveryReport>) -> Vec<(String, Vec<DeliveryReport>)> {
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
