//! The engine's side of status watching: every [`StatusEvent`] re-runs the roll-up of the
//! orders it concerns — a status those of its intent, a domain heard again its open orders, a
//! liveness tick every open order. Statuses that arrived meanwhile are recorded together, and
//! each order they concern is rolled up once for all of them, at the loops' pace
//! ([`super::pace`]).

use super::Engine;
use crate::intent::IntentStatus;
use crate::status_watch::StatusEvent;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most status events taken together.
const EVENT_BATCH: usize = 1024;

impl Engine {
    /// Records status events until they end or shutdown.
    pub async fn record_status_events(&self, mut events: mpsc::Receiver<StatusEvent>) {
        let mut batch = Vec::with_capacity(EVENT_BATCH);
        loop {
            let taken = self.next_round(&mut events, &mut batch, EVENT_BATCH).await;
            if taken == 0 {
                return;
            }
            let started = Instant::now();
            let mut statuses = Vec::new();
            for event in batch.drain(..) {
                let other = match event {
                    StatusEvent::Status(status) => {
                        statuses.push(status);
                        continue;
                    }
                    other => other,
                };
                // Statuses before the event are recorded before it, as they came.
                self.record_statuses(std::mem::take(&mut statuses)).await;
                self.on_event(other).await;
            }
            self.record_statuses(statuses).await;
            self.inner.pace.ran(started, Instant::now());
        }
    }

    async fn record_statuses(&self, statuses: Vec<IntentStatus>) {
        if statuses.is_empty() {
            return;
        }
        if let Err(e) = self.on_statuses(statuses).await {
            tracing::error!(error = %e, "recording intent statuses failed");
        }
    }

    async fn on_event(&self, event: StatusEvent) {
        let (what, result) = match event {
            StatusEvent::Status(status) => {
                ("recording an intent status", self.on_status(status).await)
            }
            StatusEvent::DomainHeard(domain) => (
                "re-rolling after a domain was heard",
                self.reroll_domain(&domain).await,
            ),
            StatusEvent::LivenessTick => {
                if let Err(e) = self.fail_over().await {
                    tracing::error!(error = %e, "fail-over check failed");
                }
                ("liveness roll-up", self.reroll_open().await)
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "{what} failed");
        }
    }
}
