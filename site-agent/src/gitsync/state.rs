//! Where the Git sync stands, shared between the sync loop (which writes it) and the status
//! reporter (which sends it in every heartbeat): the commit applied to the colony, whether
//! the latest attempts failed, and the local pause it honours. A change of what a heartbeat
//! says (not a sync that merely ran again) is news: the reporter sends a heartbeat at once
//! ([`SharedSyncState::news`]) instead of at its next period, so the period only has to prove
//! that the site is alive.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::pause::Pause;

/// The sync's state as the heartbeat reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The commit last applied completely to the colony.
    pub applied: Option<String>,
    /// When the latest successful sync finished (millis), since this agent started.
    pub synced_at_ms: Option<i64>,
    /// Why the latest attempt failed, if it did.
    pub error: Option<String>,
    /// When attempts started failing in a row (millis).
    pub failing_since_ms: Option<i64>,
    /// The local pause the sync honours, as it read it last.
    pub paused: Option<Pause>,
}

impl SyncState {
    /// True when a heartbeat of `self` tells what one of `other` told: the same commit,
    /// failure and pause. When the latest sync finished is no news.
    pub fn same_news(&self, other: &SyncState) -> bool {
        self.applied == other.applied
            && self.error == other.error
            && self.failing_since_ms == other.failing_since_ms
            && self.paused == other.paused
    }
}

/// A cheap-to-clone handle on the [`SyncState`].
#[derive(Debug, Clone, Default)]
pub struct SharedSyncState(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<SyncState>,
    /// Told when what a heartbeat says changed (one permit is kept while nobody waits).
    news: Notify,
}

impl SharedSyncState {
    /// Starts from the commit applied before this agent started (no news: the first heartbeat
    /// says it anyway).
    pub fn restore(&self, applied: Option<String>) {
        self.lock().applied = applied;
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state with `change`, and tells [`Self::news`] when what a heartbeat says
    /// changed.
    fn update(&self, change: impl FnOnce(&mut SyncState)) {
        let news = {
            let mut s = self.lock();
            let before = s.clone();
            change(&mut s);
            !s.same_news(&before)
        };
        if news {
            self.0.news.notify_one();
        }
    }

    /// A copy of the current state.
    pub fn get(&self) -> SyncState {
        self.lock().clone()
    }

    /// Resolves once what a heartbeat says changed since the last call resolved (or since the
    /// start).
    pub async fn news(&self) {
        self.0.news.notified().await;
    }

    /// `commit` is applied completely (at `now_ms`).
    pub fn applied(&self, commit: &str, now_ms: i64) {
        self.update(|s| {
            s.applied = Some(commit.to_string());
            s.synced_at_ms = Some(now_ms);
        });
    }

    /// The latest attempt fetched and applied: no failure any more.
    pub fn healthy(&self) {
        self.update(|s| {
            s.error = None;
            s.failing_since_ms = None;
        });
    }

    /// The local pause read at the latest attempt (`None`: not paused).
    pub fn paused(&self, pause: Option<Pause>) {
        self.update(|s| s.paused = pause);
    }

    /// An attempt failed with `error`.
    pub fn failed(&self, error: impl Into<String>, now_ms: i64) {
        self.update(|s| {
            s.error = Some(error.into());
            s.failing_since_ms.get_or_insert(now_ms);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_start_until_a_success() {
        let s = SharedSyncState::default();
        s.restore(Some("c0".into()));
        s.failed("git fetch failed: timed out", 10);
        s.failed("git fetch failed: refused", 20);
        let now = s.get();
        assert_eq!(now.applied.as_deref(), Some("c0"));
        assert_eq!(now.error.as_deref(), Some("git fetch failed: refused"));
        assert_eq!(now.failing_since_ms, Some(10));
        s.applied("c1", 30);
        assert_eq!(
            s.get().failing_since_ms,
            Some(10),
            "a fetch failure is not healed by an apply"
        );
        s.healthy();
        assert_eq!(
            s.get(),
            SyncState {
                applied: Some("c1".into()),
                synced_at_ms: Some(30),
                error: None,
                failing_since_ms: None,
                paused: None,
            }
        );
    }

    /// Whether [`SharedSyncState::news`] is ready now.
    async fn has_news(s: &SharedSyncState) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, s.news())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn news_is_a_change_of_what_a_heartbeat_says_not_a_sync_that_ran_again() {
        let s = SharedSyncState::default();
        s.restore(Some("c0".into()));
        assert!(!has_news(&s).await, "the restored commit is no news");
        s.applied("c0", 10);
        assert!(!has_news(&s).await, "the same commit applied again");
        s.applied("c1", 20);
        assert!(has_news(&s).await, "a new commit");
        assert!(!has_news(&s).await, "told once");
        s.failed("git fetch failed: refused", 30);
        s.failed("git fetch failed: refused", 40);
        assert!(has_news(&s).await, "a failure");
        assert!(!has_news(&s).await, "the same failure again is no news");
        s.failed("git fetch failed: timed out", 50);
        assert!(has_news(&s).await, "another reason");
        s.healthy();
        assert!(has_news(&s).await, "healed");
        s.healthy();
        s.paused(None);
        assert!(!has_news(&s).await, "still healthy, still not paused");
        s.paused(Some(Pause {
            reason: "maintenance".into(),
            since_ms: 60,
        }));
        assert!(has_news(&s).await, "paused");
    }
}
