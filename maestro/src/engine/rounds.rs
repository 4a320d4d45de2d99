//! The engine's roll-up loop. Delivery reports (from delivery) and status events (from the
//! domains' status streams) are recorded in rounds, at the loop's pace ([`super::pace`]): a
//! round takes what waits in both channels, stores every intent status, and rolls up each order
//! concerned once for all of its reports and statuses — one read-modify-write, one flush, one
//! revision. A domain's acknowledgement and the status it publishes once the intent is stored
//! arrive together, so a fan-out's order is rolled up about half as often as when each kind had
//! a round of its own. The other events (a domain heard again, the liveness tick) follow the
//! round's statuses and reports.

use super::Engine;
use super::deliveries::{by_order, marks};
use crate::delivery::DeliveryReport;
use crate::intent::IntentStatus;
use crate::status_watch::StatusEvent;
use std::collections::{HashMap, HashSet};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most delivery reports taken in one round.
const REPORT_BATCH: usize = 1024;
/// Most status events taken in one round.
const EVENT_BATCH: usize = 1024;

/// The status events that follow a round's statuses and reports.
enum Later {
    /// A domain was heard again: its open orders are rolled up.
    DomainHeard(String),
    /// Time passed: fail-over is checked and the open orders time may have changed are rolled
    /// up ([`super::liveness`]).
    LivenessTick,
}

/// The loop's two channels, each until it closes.
pub(super) struct Inbox {
    reports: Option<mpsc::Receiver<DeliveryReport>>,
    events: Option<mpsc::Receiver<StatusEvent>>,
}

/// What one round took.
#[derive(Debug, Default)]
pub(super) struct Round {
    pub(super) reports: Vec<DeliveryReport>,
    pub(super) events: Vec<StatusEvent>,
}

impl Inbox {
    pub(super) fn new(
        reports: mpsc::Receiver<DeliveryReport>,
        events: mpsc::Receiver<StatusEvent>,
    ) -> Self {
        Self {
            reports: Some(reports),
            events: Some(events),
        }
    }

    /// Waits until either channel brings something: false once both closed.
    async fn first(&mut self, round: &mut Round) -> bool {
        loop {
            let (reports, events) = (self.reports.as_mut(), self.events.as_mut());
            let (from_reports, taken) = match (reports, events) {
                (None, None) => return false,
                (Some(r), None) => (true, r.recv_many(&mut round.reports, REPORT_BATCH).await),
                (None, Some(e)) => (false, e.recv_many(&mut round.events, EVENT_BATCH).await),
                (Some(r), Some(e)) => tokio::select! {
                    n = r.recv_many(&mut round.reports, REPORT_BATCH) => (true, n),
                    n = e.recv_many(&mut round.events, EVENT_BATCH) => (false, n),
                },
            };
            if taken > 0 {
                return true;
            }
            // That channel closed; go on with the other.
            if from_reports {
                self.reports = None;
            } else {
                self.events = None;
            }
        }
    }

    /// Takes what waits in both channels, up to each one's batch.
    fn rest(&mut self, round: &mut Round) {
        if let Some(r) = self.reports.as_mut() {
            drain(r, &mut round.reports, REPORT_BATCH);
        }
        if let Some(e) = self.events.as_mut() {
            drain(e, &mut round.events, EVENT_BATCH);
        }
    }
}

fn drain<T>(rx: &mut mpsc::Receiver<T>, into: &mut Vec<T>, max: usize) {
    while into.len() < max {
        match rx.try_recv() {
            Ok(item) => into.push(item),
            Err(_) => return,
        }
    }
}

impl Engine {
    /// Records delivery reports and status events in rounds until both channels close or
    /// shutdown.
    pub(super) async fn record_rounds(&self, mut inbox: Inbox) {
        while let Some(round) = self.next_round(&mut inbox).await {
            let started = Instant::now();
            self.record_round(round).await;
            self.inner.pace.ran(started, Instant::now());
        }
    }

    /// Waits for what either channel brings next, then for the loop's pace, and takes what
    /// waits by then; `None` once both channels closed or at shutdown.
    pub(super) async fn next_round(&self, inbox: &mut Inbox) -> Option<Round> {
        let mut round = Round::default();
        let taken = tokio::select! {
            taken = inbox.first(&mut round) => taken,
            () = self.shutdown().cancelled() => return None,
        };
        if !taken || !self.wait_for_pace().await {
            return None;
        }
        // What came during the rest joins this round.
        inbox.rest(&mut round);
        Some(round)
    }

    async fn record_round(&self, Round { reports, events }: Round) {
        let mut statuses = Vec::new();
        let mut later = Vec::new();
        for event in events {
            match event {
                StatusEvent::Status(status) => statuses.push(status),
                StatusEvent::DomainHeard(domain) => later.push(Later::DomainHeard(domain)),
                StatusEvent::LivenessTick => later.push(Later::LivenessTick),
            }
        }
        // The orders concerned: those of the statuses, then those of the reports.
        let grouped = by_order(reports);
        let mut orders = self.store_statuses(&statuses);
        let mut seen: HashSet<String> = orders.iter().cloned().collect();
        orders.extend(
            grouped
                .iter()
                .filter(|(id, _)| seen.insert(id.clone()))
                .map(|(id, _)| id.clone()),
        );
        let mut reports: HashMap<String, Vec<DeliveryReport>> = grouped.into_iter().collect();
        for id in orders {
            let mine = reports.remove(&id).unwrap_or_default();
            self.roll_up_order(&id, mine, statuses.len()).await;
        }
        for event in later {
            self.on_event(event).await;
        }
    }

    /// Stores `statuses` (in order): the ids of the open orders they concern, each once, in
    /// the order of their first changed status. A status that cannot be stored is logged and
    /// the others are stored all the same.
    fn store_statuses(&self, statuses: &[IntentStatus]) -> Vec<String> {
        let mut orders: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for status in statuses {
            let concerned = self.store().record_status(status).and_then(|changed| {
                if changed {
                    self.store().orders_for_intent(&status.intent_id)
                } else {
                    Ok(Vec::new())
                }
            });
            match concerned {
                Ok(ids) => orders.extend(ids.into_iter().filter(|id| seen.insert(id.clone()))),
                Err(e) => {
                    tracing::error!(intent.id = %status.intent_id, error = %e, "recording an intent status failed")
                }
            }
        }
        orders
    }

    /// Rolls order `id` up once with its delivery `reports` of the round (its statuses are
    /// stored already). A final report's entry leaves the outbox in the same transaction; if
    /// that fails, the entry is delivered again.
    async fn roll_up_order(&self, id: &str, reports: Vec<DeliveryReport>, statuses: usize) {
        let span =
            tracing::info_span!("order.rollup", order.id = %id, reports = reports.len(), statuses);
        if let Ok(Some(order)) = self.store().get(id) {
            maestro_common::telemetry::context::set_parent(&span, &order.traceparent);
        }
        let (done, marks) = marks(reports);
        let mark = |o: &mut crate::model::Order| {
            for (entry, delivery, message) in &marks {
                super::deliveries::record(o, entry, *delivery, message);
            }
        };
        let result = tracing::Instrument::instrument(self.reroll(id, &done, mark), span).await;
        match result {
            Err(e) if !done.is_empty() => {
                tracing::error!(order.id = %id, deliveries = done.len(), error = %e, "recording deliveries failed; delivering again");
                for entry in done {
                    self.inner.deliveries.deliver(entry).await;
                }
            }
            Err(e) => tracing::error!(order.id = %id, error = %e, "rolling up the order failed"),
            Ok(_) => {}
        }
    }

    async fn on_event(&self, event: Later) {
        let (what, result) = match event {
            Later::DomainHeard(domain) => (
                "re-rolling after a domain was heard",
                self.reroll_domain(&domain).await,
            ),
            Later::LivenessTick => {
                if let Err(e) = self.fail_over().await {
                    tracing::error!(error = %e, "fail-over check failed");
                }
                ("liveness roll-up", self.reroll_on_tick().await)
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "{what} failed");
        }
    }
}
