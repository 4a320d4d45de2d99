//! Shared server state: the store, the write lock, the assignment signal and the cron registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::store::Store;

/// Identifies one self-healing reconcile loop: (colony, kind, location).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CronKey {
    pub(crate) colony: String,
    pub(crate) kind: String,
    pub(crate) location: String,
}

impl CronKey {
    /// Upstream's cron name: `reconcile-<Kind>[-<location>]`.
    pub(crate) fn name(&self) -> String {
        if self.location.is_empty() {
            format!("reconcile-{}", self.kind)
        } else {
            format!("reconcile-{}-{}", self.kind, self.location)
        }
    }
}

/// Everything the handlers share.
pub(crate) struct ServerState {
    pub(crate) store: Store,
    pub(crate) server_id: String,
    write: Mutex<()>,
    /// Bumped whenever a process becomes waiting; long-polling assigns wait on it.
    pub(crate) submitted: watch::Sender<u64>,
    pub(crate) crons: Mutex<HashMap<CronKey, CancellationToken>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) default_reconcile_interval: Duration,
    last_nanos: AtomicI64,
}

impl ServerState {
    pub(crate) fn new(
        store: Store,
        server_id: String,
        shutdown: CancellationToken,
        default_reconcile_interval: Duration,
    ) -> Self {
        Self {
            store,
            server_id,
            write: Mutex::new(()),
            submitted: watch::channel(0).0,
            crons: Mutex::new(HashMap::new()),
            shutdown,
            tracker: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
            default_reconcile_interval,
            last_nanos: AtomicI64::new(0),
        }
    }

    /// Serialises read-modify-write sequences.
    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cron registry.
    pub(crate) fn cron_registry(&self) -> MutexGuard<'_, HashMap<CronKey, CancellationToken>> {
        self.crons.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes long-polling assigns.
    pub(crate) fn notify_submitted(&self) {
        self.submitted.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Now, as strictly increasing Unix nanoseconds (ties broken by +1 ns).
    pub(crate) fn unique_now_nanos(&self) -> i64 {
        let now = chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or(i64::MAX / 2);
        let mut prev = self.last_nanos.load(Ordering::SeqCst);
        loop {
            let next = now.max(prev + 1);
            match self
                .last_nanos
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(actual) => prev = actual,
            }
        }
    }
}
