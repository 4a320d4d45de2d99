//! The pace of the roll-up loops. Delivery reports and status events are recorded in rounds: a
//! round takes what waits in its channel, rolls up each order concerned once, and writes it.
//! Without a pace, a loop starts its next round as soon as one event waits, so a busy loop rolls
//! up a large order again for every few events: the work per event grows with the size of the
//! order. With the pace, the next round of either loop starts no sooner than `RATIO` times the
//! last round's duration after it ended; what arrives meanwhile waits in the channel and is taken
//! by that round. The loops then spend at most 1 / (1 + `RATIO`) of the time rolling up, and a
//! round's events wait at most `RATIO` times the previous round's duration (never more than
//! [`MAX_REST`]). An event that comes to an idle loop is taken at once.

use super::Engine;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How much longer than its last round a loop rests before the next.
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
    /// Waits for what `rx` brings next, then for the loops' pace, and takes what waits by then
    /// into `batch`, at most `max`: how many were taken; 0 once `rx` closed or at shutdown.
    pub(super) async fn next_round<T>(
        &self,
        rx: &mut mpsc::Receiver<T>,
        batch: &mut Vec<T>,
        max: usize,
    ) -> usize {
        let taken = tokio::select! {
            n = rx.recv_many(batch, max) => n,
            () = self.shutdown().cancelled() => return 0,
        };
        if taken == 0 {
            return 0;
        }
        if let Some(at) = self.inner.pace.not_before()
            && at > Instant::now()
        {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = self.shutdown().cancelled() => return 0,
            }
        }
        // What came during the rest joins this round.
        while batch.len() < max {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        batch.len()
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
    fn the_later_of_two_loops_rounds_sets_the_rest() {
        let pace = Pace::default();
        let t0 = Instant::now();
        // One loop's long round ends; the other's short one ended earlier and is noted after.
        pace.ran(t0, t0 + Duration::from_millis(40));
        pace.ran(t0, t0 + Duration::from_millis(5));
        assert_eq!(
            pace.not_before(),
            Some(t0 + Duration::from_millis(40) * (1 + RATIO))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_waits_for_the_pace_and_takes_what_came_meanwhile() {
        let store: std::sync::Arc<dyn crate::store::OrderStore> =
            std::sync::Arc::new(crate::store::MemoryOrderStore::default());
        let client = std::sync::Arc::new(crate::fixtures::FakeDomainClient::answering([]));
        let harness = crate::engine::tests::start(store, &client).await;
        let engine = harness.engine.clone();
        let t0 = Instant::now();
        // The last round took 30 ms: the next starts no sooner than 30 ms after it ended.
        engine.inner.pace.ran(t0, t0 + Duration::from_millis(30));
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        tx.send(1).await.unwrap();
        let round = tokio::spawn(async move {
            let mut batch = Vec::new();
            let taken = engine.next_round(&mut rx, &mut batch, 8).await;
            (taken, batch, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(45)).await;
        assert!(!round.is_finished(), "the round started before its pace");
        tx.send(2).await.unwrap();
        let (taken, batch, at) = round.await.unwrap();
        assert_eq!((taken, batch), (2, vec![1, 2]));
        assert_eq!(at, t0 + Duration::from_millis(30) * (1 + RATIO));
        // A loop that was idle long enough takes what comes at once.
        let engine = harness.engine.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        tx.send(3).await.unwrap();
        let before = Instant::now();
        let mut batch = Vec::new();
        assert_eq!(engine.next_round(&mut rx, &mut batch, 8).await, 1);
        assert_eq!(Instant::now(), before);
    }
}
