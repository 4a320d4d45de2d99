//! The engine's side of status watching: every [`StatusEvent`] re-runs the roll-up of the
//! orders it concerns — a status those of its intent, a domain heard again its open orders, a
//! liveness tick every open order.

use super::Engine;
use crate::status_watch::StatusEvent;
use tokio::sync::mpsc;

impl Engine {
    /// Records status events until they end or shutdown.
    pub async fn record_status_events(&self, mut events: mpsc::Receiver<StatusEvent>) {
        loop {
            let event = tokio::select! {
                e = events.recv() => match e {
                    Some(e) => e,
                    None => return,
                },
                () = self.shutdown().cancelled() => return,
            };
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
}
