//! When the sync loop runs next: on a commit notice naming a commit the site has not applied, at
//! the poll interval (long while notices arrive, short while they cannot), sooner while blueprints
//! wait for a dependency, and at the colony re-check.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::gitsync::notices::Notices;

/// Longest pause between rounds while blueprints wait for their dependencies.
const WAITING_RECHECK: Duration = Duration::from_secs(2);

/// When the sync loop fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncTiming {
    /// Between fetches while no commit notice stream is open.
    pub interval: Duration,
    /// Between fetches while the notice stream is open (a safety net for a lost notice).
    pub noticed_interval: Duration,
    /// Between full re-checks of the colony against the applied commit.
    pub recheck: Duration,
}

/// The wait after one round.
pub(super) struct Wake {
    pub timing: SyncTiming,
    /// Blueprints of the last round wait for a dependency.
    pub waiting: bool,
    pub next_recheck: Instant,
    /// The commit applied completely.
    pub applied: Option<String>,
}

impl Wake {
    /// How long to wait when no notice comes, with the notice stream `connected` or not.
    fn pause(&self, connected: bool) -> Duration {
        let poll = if self.waiting {
            self.timing.interval.min(WAITING_RECHECK)
        } else if connected {
            self.timing.noticed_interval.max(self.timing.interval)
        } else {
            self.timing.interval
        };
        poll.min(self.next_recheck.saturating_duration_since(Instant::now()))
    }

    /// True when a notice names a commit other than the one applied.
    fn is_news(&self, n: &Notices) -> bool {
        n.commit.is_some() && n.commit != self.applied
    }

    /// Waits until the next round is due; true when `shutdown` came first.
    pub async fn until(
        &self,
        notices: Option<&mut watch::Receiver<Notices>>,
        shutdown: &CancellationToken,
    ) -> bool {
        let Some(notices) = notices else {
            return maestro_common::backoff::pause(self.pause(false), shutdown).await;
        };
        let started = Instant::now();
        let mut connected = notices.borrow_and_update().connected;
        loop {
            let deadline = started + self.pause(connected);
            tokio::select! {
                () = shutdown.cancelled() => return true,
                () = tokio::time::sleep_until(deadline) => return false,
                changed = notices.changed() => {
                    if changed.is_err() {
                        // The stream's task ended: poll from now on.
                        return maestro_common::backoff::pause(self.pause(false), shutdown).await;
                    }
                    let now = notices.borrow_and_update().clone();
                    if self.is_news(&now) {
                        return false;
                    }
                    connected = now.connected;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn wake(applied: Option<&str>) -> Wake {
        Wake {
            timing: SyncTiming {
                interval: Duration::from_millis(500),
                noticed_interval: Duration::from_secs(60),
                recheck: Duration::from_secs(600),
            },
            waiting: false,
            next_recheck: Instant::now() + Duration::from_secs(600),
            applied: applied.map(str::to_string),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_notice_of_a_new_commit_wakes_at_once_and_one_of_the_applied_commit_does_not() {
        let (tx, mut rx) = watch::channel(Notices {
            connected: true,
            commit: Some(A.into()),
        });
        let stop = CancellationToken::new();
        let w = wake(Some(A));
        let started = Instant::now();
        let waited = tokio::spawn(async move {
            let shut = w.until(Some(&mut rx), &stop).await;
            (shut, Instant::now())
        });
        tokio::task::yield_now().await;
        tx.send_modify(|n| n.commit = Some(A.into()));
        tokio::time::advance(Duration::from_secs(5)).await;
        tx.send_modify(|n| n.commit = Some(B.into()));
        let (shut, woke) = waited.await.unwrap();
        assert!(!shut);
        let after = woke - started;
        assert!(
            after >= Duration::from_secs(5) && after < Duration::from_secs(6),
            "woke after {after:?}: not at the repeated notice of A, at once at B"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_notices_it_polls_rarely_and_without_them_at_the_interval() {
        let stop = CancellationToken::new();
        let (tx, mut rx) = watch::channel(Notices {
            connected: true,
            commit: None,
        });
        let started = Instant::now();
        assert!(!wake(None).until(Some(&mut rx), &stop).await);
        assert_eq!(Instant::now() - started, Duration::from_secs(60));

        // The stream breaks during the wait: the short interval applies from then on.
        let w = wake(None);
        let started = Instant::now();
        let waited = tokio::spawn(async move {
            w.until(Some(&mut rx), &stop).await;
            Instant::now()
        });
        tokio::task::yield_now().await;
        tx.send_modify(|n| n.connected = false);
        let woke = waited.await.unwrap();
        assert_eq!(woke - started, Duration::from_millis(500));

        let stop = CancellationToken::new();
        let started = Instant::now();
        assert!(!wake(None).until(None, &stop).await);
        assert_eq!(Instant::now() - started, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_colony_recheck_and_waiting_blueprints_shorten_the_wait() {
        let mut w = wake(None);
        w.next_recheck = Instant::now() + Duration::from_secs(7);
        assert_eq!(w.pause(true), Duration::from_secs(7));
        w.waiting = true;
        assert_eq!(w.pause(true), Duration::from_millis(500));
    }
}
