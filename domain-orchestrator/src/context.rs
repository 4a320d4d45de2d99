//! What every reconcile run shares: configuration, stores, the Git repo, the status hub.

use crate::git::BlueprintRepo;
use crate::hub::StatusHub;
use crate::intent::Intent;
use crate::status::{self, IntentStatus, Reachability, Retry, SiteSyncView, StatusInputs};
use crate::store::{IntentStore, ObservedStore, StoreError};
use maestro_common::backoff::Backoff;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The last failed reconcile run of an intent.
#[derive(Debug, Clone)]
pub(crate) struct RunError {
    /// What failed.
    pub(crate) message: String,
    /// Whether retrying cannot help (see `ReconcileError::is_permanent`).
    pub(crate) permanent: bool,
    /// Failed attempts in a row.
    pub(crate) attempt: u32,
    /// When the retry is due (millis), when one is scheduled.
    pub(crate) next_attempt_ms: Option<i64>,
}

/// Shared state of the reconcilers.
pub struct Context {
    /// What the domain accepts.
    pub policy: crate::policy::Policy,
    /// The catalog the domain publishes, if any: it runs only those specifications.
    pub offered: Arc<crate::offered::Offered>,
    /// This domain.
    pub domain: String,
    /// Sites of this domain.
    pub sites: Vec<String>,
    /// Intents and rendered blueprints.
    pub store: Arc<dyn IntentStore>,
    /// Site reports.
    pub observed: Arc<dyn ObservedStore>,
    /// The domain's Git repository.
    pub repo: Arc<dyn BlueprintRepo>,
    /// Current statuses and watchers.
    pub hub: Arc<StatusHub>,
    /// Held from the conflict check through the push, so publishes never interleave; holds the
    /// stored rendered intents as the publisher knows them.
    pub(crate) publish_lock: tokio::sync::Mutex<crate::reconcile::Published>,
    /// Rendered states waiting to be published together (see `reconcile::group`).
    publishing: Mutex<Vec<crate::reconcile::Pending>>,
    /// Silence after which a target site is unreachable (0 = never).
    site_unreachable_after_ms: u64,
    /// When this process first held each intent (millis): the start of a site's grace period.
    applied_at: Mutex<HashMap<String, i64>>,
    errors: Mutex<HashMap<String, RunError>>,
    /// Intents held for the maintenance window, with when it opens (`None`: unknown).
    held: Mutex<HashMap<String, Option<i64>>>,
    reconciled: tokio::sync::watch::Sender<u64>,
    backoffs: Mutex<HashMap<String, Backoff>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Context {
    /// A context over the given parts.
    pub fn new(
        domain: String,
        sites: Vec<String>,
        store: Arc<dyn IntentStore>,
        observed: Arc<dyn ObservedStore>,
        repo: Arc<dyn BlueprintRepo>,
        hub: Arc<StatusHub>,
    ) -> Self {
        Self {
            domain,
            sites,
            store,
            observed,
            repo,
            hub,
            publish_lock: tokio::sync::Mutex::default(),
            publishing: Mutex::new(Vec::new()),
            policy: crate::policy::Policy::default(),
            offered: Arc::default(),
            site_unreachable_after_ms: crate::Config::default().site_unreachable_after_ms,
            applied_at: Mutex::new(HashMap::new()),
            errors: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            reconciled: tokio::sync::watch::Sender::new(0),
            backoffs: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `pending` for the next grouped publish.
    pub(crate) fn queue_publish(&self, pending: crate::reconcile::Pending) {
        locked(&self.publishing).push(pending);
    }

    /// How many publishes are queued.
    #[cfg(test)]
    pub(crate) fn queued_publishes(&self) -> usize {
        locked(&self.publishing).len()
    }

    /// Takes every queued publish.
    pub(crate) fn take_publishes(&self) -> Vec<crate::reconcile::Pending> {
        std::mem::take(&mut *locked(&self.publishing))
    }

    /// Sets the policy intents must keep to (default: everything is accepted).
    pub fn with_policy(mut self, policy: crate::policy::Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the catalog the domain publishes (default: none; it runs what maestro sends).
    pub fn with_offered(mut self, offered: Arc<crate::offered::Offered>) -> Self {
        self.offered = offered;
        self
    }

    /// Sets the silence after which a target site is unreachable (0 = never).
    pub fn with_site_unreachable_after_ms(mut self, ms: u64) -> Self {
        self.site_unreachable_after_ms = ms;
        self
    }

    /// Silence after which a target site is unreachable (0 = never).
    pub fn site_unreachable_after_ms(&self) -> u64 {
        self.site_unreachable_after_ms
    }

    /// Whether each of the domain's sites is silent at `now`: not heard for longer than the
    /// threshold, or never heard (`None` when a site's record cannot be read).
    pub(crate) fn site_silence(&self, now: i64) -> Option<BTreeMap<String, bool>> {
        let after = i64::try_from(self.site_unreachable_after_ms).unwrap_or(i64::MAX);
        self.sites
            .iter()
            .map(|site| {
                let heard = self.observed.last_heard(site).ok()?;
                let silent = heard.is_none_or(|h| now.saturating_sub(h) > after);
                Some((site.clone(), silent))
            })
            .collect()
    }

    /// Whether the grace period of an intent this process holds ended within `from..=to`
    /// (millis): when it was first held, plus the threshold.
    pub(crate) fn grace_ends_within(&self, from: i64, to: i64) -> bool {
        let after = i64::try_from(self.site_unreachable_after_ms).unwrap_or(i64::MAX);
        locked(&self.applied_at)
            .values()
            .any(|at| (from..=to).contains(&at.saturating_add(after)))
    }

    /// When this process first held intent `id`; the first call records now. (Not persisted:
    /// after a restart the sites get the threshold again to be heard, counted from the start.)
    fn applied_at(&self, id: &str, now: i64) -> i64 {
        *locked(&self.applied_at)
            .entry(id.to_string())
            .or_insert(now)
    }

    /// Records the outcome of a run: `Some(error)` for a failure, `None` for success.
    pub(crate) fn set_error(&self, id: &str, error: Option<RunError>) {
        let mut errors = locked(&self.errors);
        match error {
            Some(e) => {
                errors.insert(id.to_string(), e);
            }
            None => {
                errors.remove(id);
                locked(&self.backoffs).remove(id);
            }
        }
    }

    /// Records that intent `id` waits for the maintenance window opening at `opens_at`
    /// (`Some`) or no longer waits (`None`).
    pub(crate) fn set_held(&self, id: &str, held: Option<Option<i64>>) {
        let mut map = locked(&self.held);
        match held {
            Some(opens_at) => {
                map.insert(id.to_string(), opens_at);
            }
            None => {
                map.remove(id);
            }
        }
    }

    /// Counts finished reconcile runs (successful or not); tests and tools wait on it.
    pub fn reconciled(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reconciled.subscribe()
    }

    pub(crate) fn run_finished(&self) {
        self.reconciled.send_modify(|n| *n += 1);
    }

    /// The next retry delay of an intent whose reconcile failed.
    pub(crate) fn next_backoff(&self, id: &str) -> Duration {
        locked(&self.backoffs)
            .entry(id.to_string())
            .or_insert_with(|| Backoff::new(Duration::from_millis(200), Duration::from_secs(30)))
            .next_delay()
    }

    /// Failed attempts in a row of intent `id` (the retries its backoff has handed out).
    pub(crate) fn attempts(&self, id: &str) -> u32 {
        locked(&self.backoffs).get(id).map_or(0, Backoff::attempts)
    }

    /// Computes the status of `intent` from the stores (pure computation over what they hold).
    pub fn status_of(&self, intent: &Intent) -> Result<IntentStatus, StoreError> {
        let sites = intent.target_sites(&self.sites);
        let rendered = self.store.rendered(&intent.id)?;
        let mut observed = BTreeMap::new();
        if let Some(r) = &rendered {
            for b in &r.blueprints {
                if let Some(o) = self.observed.observed(b.site.as_str(), b.name.as_str())? {
                    observed.insert((b.site.to_string(), b.name.to_string()), o);
                }
            }
        }
        let mut last_heard = BTreeMap::new();
        let mut syncs = BTreeMap::new();
        // Only a deleted intent's status asks whether a site runs its commit.
        let published = match rendered.as_ref().and_then(|r| r.commit.as_deref()) {
            Some(c) if intent.deleted => Some((c, self.store.commit_number(c)?)),
            _ => None,
        };
        for s in &sites {
            if let Some(t) = self.observed.last_heard(s.as_str())? {
                last_heard.insert(s.to_string(), t);
            }
            if let Some(sync) = self.observed.site_sync(s.as_str())? {
                let has_published = match published {
                    Some((c, _)) if c == sync.commit => true,
                    Some((_, Some(n))) => self
                        .store
                        .commit_number(&sync.commit)?
                        .is_some_and(|site_n| site_n >= n),
                    _ => false,
                };
                syncs.insert(
                    s.to_string(),
                    SiteSyncView {
                        sync,
                        has_published,
                    },
                );
            }
        }
        let run_error = locked(&self.errors).get(&intent.id).cloned();
        let (error, retrying) = match &run_error {
            Some(e) if e.permanent => (Some(e.message.as_str()), None),
            Some(e) => (
                None,
                Some(Retry {
                    error: &e.message,
                    attempt: e.attempt,
                    next_attempt_ms: e.next_attempt_ms,
                }),
            ),
            None => (None, None),
        };
        let held = locked(&self.held).get(&intent.id).copied();
        let now = maestro_common::time::now_millis();
        let reachability = Reachability {
            now,
            applied_at: self.applied_at(&intent.id, now),
            after_ms: self.site_unreachable_after_ms,
        };
        Ok(status::compute(&StatusInputs {
            domain: &self.domain,
            intent,
            sites: &sites,
            rendered: rendered.as_ref(),
            observed: &observed,
            last_heard: &last_heard,
            syncs: &syncs,
            error,
            retrying,
            held,
            reachability,
        }))
    }

    /// Recomputes the status of `intent` and publishes it to watchers when it changed.
    pub fn refresh_status(&self, intent: &Intent) {
        match self.status_of(intent) {
            Ok(s) => {
                self.hub.update(s);
            }
            Err(e) => {
                tracing::warn!(intent.id = %intent.id, error = %e, "computing intent status failed")
            }
        }
    }

    /// Recomputes the status of `intent` and publishes it only when a target site became
    /// unreachable or reachable again (the silence timer: time passing alone sends nothing).
    pub fn refresh_reachability(&self, intent: &Intent) -> bool {
        match self.status_of(intent) {
            Ok(s) => self.hub.update_reachability(s),
            Err(e) => {
                tracing::warn!(intent.id = %intent.id, error = %e, "computing intent status failed");
                false
            }
        }
    }
}
