//! The pace of the roll-up loop. Delivery reports and status events are recorded in rounds
//! ([`super::rounds`]): a round takes what waits, rolls up each order concerned once, and writes
//! it. Without a pace, the loop starts its next round as soon as one event waits, so a busy loop
//! rolls up a large order again for every few events: the work per event grows with the size of
//! the order. With the pace, the next round starts no sooner than `RATIO` times the last round's
//! duration after it ended; what arrives meanwhile waits in the channels and is taken by that
//! round. The loop then spends at most 1 / (1 + `RATIO`) of the time rolling up, and a round's
//! events wait at most `RATIO` times the previous round's duration (never more than
//! [`MAX_REST`]). An event that comes to an idle loop is taken at once.

use super::Engine;
use std::time::Duration;
use tokio::time::Instant;

/// How much longer than its last round the loop rests before the next.
pub(super) const RATIO: u32 = 1;

/// The longest rest, whatever the last round took (a round slowed by a stalled disk must not
/// hold the next one back as long).
pub(super) const MAX_REST: Duration = Duration::from_millis(100);

/// When the next round of the roll-up loops may start.
#[derive(Debug)]
pub(super) struct Pace {
    not_before: std::sync::Mutex<Option<Instant>>,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            not_before: std::sync::Mutex::new(None),
        }
    }
}

impl Pace {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the next round may start (`None`: now).
    pub(super) fn not_before(&self) -> Option<Instant> {
        *self.lock()
    }

    /// Notes a round that ran from `started` to `ended`.
    pub(super) fn ran(&self, started: Instant, ended: Instant) {
        let rest = ended
            .saturating_duration_since(started)
            .saturating_mul(RATIO);
        let next = ended + rest.min(MAX_REST);
        let mut not_before = self.lock();
        if not_before.is_none_or(|t| t < next) {
            *not_before = Some(next);
        }
    }
}

impl Engine {
    /// Waits until the loop's pace lets the next round start: false at shutdown.
    pub(super) async fn wait_for_pace(&self) -> bool {
        if let Some(at) = self.inner.pace.not_before()
            && at > Instant::now()
        {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = self.shutdown().cancelled() => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_REST, Pace, RATIO};
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn the_next_round_rests_in_proportion_to_the_last_up_to_a_bound() {
        let pace = Pace::default();
        assert_eq!(pace.not_before(), None, "an idle loop starts at once");
        let t0 = Instant::now();
        let round = Duration::from_millis(10);
        pace.ran(t0, t0 + round);
        assert_eq!(pace.not_before(), Some(t0 + round + round * RATIO));
        // A very long round rests only the bound.
        let t1 = t0 + Duration::from_secs(1);
        pace.ran(t0, t1);
        assert_eq!(pace.not_before(), Some(t1 + MAX_REST));
    }

    #[test]
    fn a_rest_already_set_later_is_kept() {
        let pace = Pace::default();
        let t0 = Instant::now();
        // A long round's rest is noted, then a short round that ended earlier.
        pace.ran(t0, t0 + Duration::from_millis(40));
        pace.ran(t0, t0 + Duration::from_millis(5));
        assert_eq!(
            pace.not_before(),
            Some(t0 + Duration::from_millis(40) * (1 + RATIO))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_waits_for_the_pace_and_takes_what_came_meanwhile() {
        use crate::engine::rounds::Inbox;
        use crate::status_watch::StatusEvent;
        let store: std::sync::Arc<dyn crate::store::OrderStore> =
            std::sync::Arc::new(crate::store::MemoryOrderStore::default());
        let client = std::sync::Arc::new(crate::fixtures::FakeDomainClient::answering([]));
        let harness = crate::engine::tests::start(store, &client).await;
        let engine = harness.engine.clone();
        let t0 = Instant::now();
        // The last round took 40 ms: the next starts no sooner than 40 ms after it ended.
        engine.inner.pace.ran(t0, t0 + Duration::from_millis(40));
        let (reports_tx, reports) = tokio::sync::mpsc::channel(8);
        let (events_tx, events) = tokio::sync::mpsc::channel(8);
        let mut inbox = Inbox::new(reports, events);
        events_tx.send(StatusEvent::LivenessTick).await.unwrap();
        let round = tokio::spawn(async move {
            let round = engine.next_round(&mut inbox).await;
            (round, Instant::now(), inbox)
        });
        tokio::time::sleep(Duration::from_millis(75)).await;
        assert!(!round.is_finished(), "the round started before its pace");
        events_tx
            .send(StatusEvent::DomainHeard("north".into()))
            .await
            .unwrap();
        let (taken, at, mut inbox) = round.await.unwrap();
        let taken = taken.expect("a round");
        assert_eq!((taken.events.len(), taken.reports.len()), (2, 0));
        assert_eq!(at, t0 + Duration::from_millis(40) * (1 + RATIO));
        // A loop that was idle long enough takes what comes at once, from either channel.
        let engine = harness.engine.clone();
        events_tx.send(StatusEvent::LivenessTick).await.unwrap();
        let before = Instant::now();
        let taken = engine.next_round(&mut inbox).await.expect("a round");
        assert_eq!(taken.events.len(), 1);
        assert_eq!(Instant::now(), before);
        // One channel closed: the loop goes on with the other; both closed: no more rounds.
        drop(events_tx);
        let report = crate::delivery::DeliveryReport {
            entry: crate::fixtures::outbox_entry("o1", "web", "north"),
            outcome: crate::delivery::DeliveryOutcome::Acknowledged,
        };
        reports_tx.send(report.clone()).await.unwrap();
        let taken = engine.next_round(&mut inbox).await.expect("a round");
        assert_eq!(taken.reports, vec![report]);
        drop(reports_tx);
        assert!(engine.next_round(&mut inbox).await.is_none());
    }
}
