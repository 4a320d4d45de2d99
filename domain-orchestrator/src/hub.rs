//! The current status of every intent, and a broadcast of each change to watchers.

use crate::status::IntentStatus;
use maestro_proto::intent::v1 as pb;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Capacity of the change broadcast; a watcher lagging further gets a full snapshot.
const CHANGES: usize = 256;

/// Holds the latest status per intent and tells subscribers about changes.
pub struct StatusHub {
    current: Mutex<BTreeMap<String, (IntentStatus, pb::IntentStatus)>>,
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
    /// Records `status`; broadcasts it when it differs from the current one. Returns whether it changed.
    pub fn update(&self, status: IntentStatus) -> bool {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current
            .get(&status.intent_id)
            .is_some_and(|(s, _)| *s == status)
        {
            return false;
        }
        let proto = status.to_proto(maestro_common::time::now_millis());
        current.insert(status.intent_id.clone(), (status, proto.clone()));
        // No receivers is fine: nobody is watching.
        let _ = self.changes.send(proto);
        true
    }

    /// The current status of one intent.
    pub fn get(&self, id: &str) -> Option<pb::IntentStatus> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.get(id).map(|(_, p)| p.clone())
    }

    /// The current status of every intent.
    pub fn snapshot(&self) -> Vec<pb::IntentStatus> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.values().map(|(_, p)| p.clone()).collect()
    }

    /// Subscribes to changes; subscribe before taking the snapshot so nothing is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<pb::IntentStatus> {
        self.changes.subscribe()
    }
}
