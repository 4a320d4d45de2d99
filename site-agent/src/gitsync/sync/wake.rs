//! When the sync loop runs next, and whether that round fetches: on a commit notice naming a
//! commit the site has not applied, and when the poll interval since the last fetch ran out (long
//! while notices arrive, short while they cannot; sooner while blueprints wait for a dependency), it
//! fetches; at the colony re-check it re-applies the commit already fetched without fetching.

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
    /// When the last round that fetched ended.
    pub last_fetch: Instant,
    /// The commit applied completely.
    pub applied: Option<String>,
}

/// What the next round does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Fetch, then apply what changed.
    Fetch,
    /// Re-check the colony against the commit already fetched, without fetching.
    Recheck,
    /// Shutdown came first.
    Shutdown,
}

impl Wake {
    /// When the next fetch is due if no notice comes, with the notice stream `connected` or not.
    fn fetch_due(&self, connected: bool) -> Instant {
        let poll = if self.waiting {
            self.timing.interval.min(WAITING_RECHECK)
        } else if connected {
            self.timing.noticed_interval.max(self.timing.interval)
        } else {
            self.timing.interval
        };
        self.last_fetch + poll
    }

    /// When the next round is due, and what it does, if no notice comes.
    fn next_round(&self, connected: bool) -> (Instant, Next) {
        let fetch = self.fetch_due(connected);
        if fetch <= self.next_recheck {
            (fetch, Next::Fetch)
        } else {
            (self.next_recheck, Next::Recheck)
        }
    }

    /// Sleeps until the next round without a notice stream.
    async fn without_notices(&self, shutdown: &CancellationToken) -> Next {
        let (at, next) = self.next_round(false);
        tokio::select! {
            () = shutdown.cancelled() => Next::Shutdown,
            () = tokio::time::sleep_until(at) => next,
        }
    }

    /// True when a notice names a commit other than the one applied.
    fn is_news(&self, n: &Notices) -> bool {
        n.commit.is_some() && n.commit != self.applied
    }

    /// Waits until the next round is due and says what it does.
    pub async fn until(
        &self,
        notices: Option<&mut watch::Receiver<Notices>>,
        shutdown: &CancellationToken,
    ) -> Next {
        let Some(notices) = notices else {
            return self.without_notices(shutdown).await;
        };
        let mut connected = notices.borrow_and_update().connected;
        loop {
            let (at, next) = self.next_round(connected);
            tokio::select! {
                () = shutdown.cancelled() => return Next::Shutdown,
                () = tokio::time::sleep_until(at) => return next,
                changed = notices.changed() => {
                    if changed.is_err() {
                        // The stream's task ended: poll from now on.
                        return self.without_notices(shutdown).await;
                    }
                    let now = notices.borrow_and_update().clone();
                    if self.is_news(&now) {
                        return Next::Fetch;
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
            last_fetch: Instant::now(),
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
            let next = w.until(Some(&mut rx), &stop).await;
            (next, Instant::now())
        });
        tokio::task::yield_now().await;
        tx.send_modify(|n| n.commit = Some(A.into()));
        tokio::time::advance(Duration::from_secs(5)).await;
        tx.send_modify(|n| n.commit = Some(B.into()));
        let (next, woke) = waited.await.unwrap();
        assert_eq!(next, Next::Fetch);
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
        assert_eq!(wake(None).until(Some(&mut rx), &stop).await, Next::Fetch);
        assert_eq!(Instant::now() - started, Duration::from_secs(60));

        // The stream breaks during the wait: the short interval applies from then on.
        let w = wake(None);
        let started = Instant::now();
        let waited = tokio::spawn(async move {
            let next = w.until(Some(&mut rx), &stop).await;
            assert_eq!(next, Next::Fetch);
            Instant::now()
        });
        tokio::task::yield_now().await;
        tx.send_modify(|n| n.connected = false);
        let woke = waited.await.unwrap();
        assert_eq!(woke - started, Duration::from_millis(500));

        let stop = CancellationToken::new();
        let started = Instant::now();
        assert_eq!(wake(None).until(None, &stop).await, Next::Fetch);
        assert_eq!(Instant::now() - started, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_colony_recheck_and_waiting_blueprints_shorten_the_wait() {
        let mut w = wake(None);
        let now = Instant::now();
        w.next_recheck = now + Duration::from_secs(7);
        assert_eq!(
            w.next_round(true),
            (now + Duration::from_secs(7), Next::Recheck)
        );
        w.waiting = true;
        assert_eq!(
            w.next_round(true),
            (now + Duration::from_millis(500), Next::Fetch)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn colony_rechecks_do_not_fetch_and_do_not_postpone_the_safety_net_fetch() {
        let stop = CancellationToken::new();
        let (_tx, mut rx) = watch::channel(Notices {
            connected: true,
            commit: Some(A.into()),
        });
        let start = Instant::now();
        let mut w = wake(Some(A));
        w.timing.noticed_interval = Duration::from_secs(300);
        w.timing.recheck = Duration::from_secs(60);
        let mut rounds = Vec::new();
        // The sync loop's bookkeeping: a re-check moves the re-check deadline, a fetch the fetch one.
        w.next_recheck = start + w.timing.recheck;
        while rounds.len() < 6 {
            let next = w.until(Some(&mut rx), &stop).await;
            let at = (Instant::now() - start).as_secs();
            rounds.push((at, next));
            if Instant::now() >= w.next_recheck {
                w.next_recheck = Instant::now() + w.timing.recheck;
            }
            if next == Next::Fetch {
                w.last_fetch = Instant::now();
            }
        }
        assert_eq!(
            rounds,
            [
                (60, Next::Recheck),
                (120, Next::Recheck),
                (180, Next::Recheck),
                (240, Next::Recheck),
                (300, Next::Fetch),
                (360, Next::Recheck),
            ]
        );
    }
}
