//! The current status of every intent, and a broadcast of each change to watchers.

use crate::status::IntentStatus;
use maestro_proto::intent::v1 as pb;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Capacity of the change broadcast; a watcher lagging further gets a full snapshot.
const CHANGES: usize = 256;

/// Holds the latest status per intent (with the time it was published) and tells subscribers
/// about changes. Statuses carry timestamps, never ages: a snapshot is the status as published.
pub struct StatusHub {
    current: Mutex<BTreeMap<String, (IntentStatus, i64)>>,
    changes: broadcast::Sender<pb::IntentStatus>,
}

impl Default for StatusHub {
    fn default() -> Self {
        Self {
            current: Mutex::new(BTreeMap::new()),
            changes: broadcast::channel(CHANGES).0,
        }
    }
}

impl StatusHub {
    fn current(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (IntentStatus, i64)>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `status`; broadcasts it when it differs from the current one. Returns whether it changed.
    pub fn update(&self, status: IntentStatus) -> bool {
        self.update_when(status, |old, new| old != new)
    }

    /// Records and broadcasts `status` only when the set of unreachable sites differs from the
    /// current status (or there is none): what the silence timer publishes, so that the mere
    /// passing of time never produces a message.
    pub fn update_reachability(&self, status: IntentStatus) -> bool {
        self.update_when(status, IntentStatus::reachability_differs)
    }

    fn update_when(
        &self,
        status: IntentStatus,
        differs: impl Fn(&IntentStatus, &IntentStatus) -> bool,
    ) -> bool {
        let mut current = self.current();
        if current
            .get(&status.intent_id)
            .is_some_and(|(s, _)| !differs(s, &status))
        {
            return false;
        }
        let now = maestro_common::time::now_millis();
        let proto = status.to_proto(now);
        crate::metrics::intent_state(&status.intent_id, status.state.as_str());
        current.insert(status.intent_id.clone(), (status, now));
        // No receivers is fine: nobody is watching.
        let _ = self.changes.send(proto);
        true
    }

    /// The current status of one intent.
    pub fn get(&self, id: &str) -> Option<pb::IntentStatus> {
        self.current().get(id).map(|(s, at)| s.to_proto(*at))
    }

    /// The current status of every intent.
    pub fn snapshot(&self) -> Vec<pb::IntentStatus> {
        self.current()
            .values()
            .map(|(s, at)| s.to_proto(*at))
            .collect()
    }

    /// Subscribes to changes; subscribe before taking the snapshot so nothing is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<pb::IntentStatus> {
        self.changes.subscribe()
    }
}
