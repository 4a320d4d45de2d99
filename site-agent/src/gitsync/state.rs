//! Where the Git sync stands, shared between the sync loop (which writes it) and the status
//! reporter (which sends it in every heartbeat): the commit applied to the colony, whether
//! the latest attempts failed, and the local pause it honours.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// A cheap-to-clone handle on the [`SyncState`].
#[derive(Debug, Clone, Default)]
pub struct SharedSyncState(Arc<Mutex<SyncState>>);

impl SharedSyncState {
    /// Starts from the commit applied before this agent started.
    pub fn restore(&self, applied: Option<String>) {
        self.lock().applied = applied;
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the current state.
    pub fn get(&self) -> SyncState {
        self.lock().clone()
    }

    /// `commit` is applied completely (at `now_ms`).
    pub fn applied(&self, commit: &str, now_ms: i64) {
        let mut s = self.lock();
        s.applied = Some(commit.to_string());
        s.synced_at_ms = Some(now_ms);
    }

    /// The latest attempt fetched and applied: no failure any more.
    pub fn healthy(&self) {
        let mut s = self.lock();
        s.error = None;
        s.failing_since_ms = None;
    }

    /// The local pause read at the latest attempt (`None`: not paused).
    pub fn paused(&self, pause: Option<Pause>) {
        self.lock().paused = pause;
    }

    /// An attempt failed with `error`.
    pub fn failed(&self, error: impl Into<String>, now_ms: i64) {
        let mut s = self.lock();
        s.error = Some(error.into());
        s.failing_since_ms.get_or_insert(now_ms);
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
}
