//! Intent status from what the sites reported: a pure function, unit-tested without I/O.
//! See "Status up the tiers" in `docs/contracts.md`.

mod health;

pub use health::HealthVerdict;

use crate::intent::Intent;
use crate::store::RenderedIntent;
use health::SiteHealth;
use maestro_common::ResourceName;
use maestro_common::status::{StatusReason, reasons_text, reasons_to_proto};
use maestro_common::text::truncated;
use maestro_proto::intent::v1 as pb;
use std::collections::BTreeMap;

/// Longest blueprint message an intent status carries per site: a site's reports (up to the log
/// server's `max_record_bytes` each) are cut, so that a status of many sites, and every order
/// progress maestro makes of it, stays far below the message limit.
pub const MAX_SITE_MESSAGE_BYTES: usize = 1024;

/// The latest status record of one blueprint at one site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObservedBlueprint {
    /// Intent generation the record refers to.
    pub generation: u64,
    /// The instances run the spec of `generation`.
    pub converged: bool,
    /// The blueprint was removed and cleaned up.
    pub removed: bool,
    /// Message of the record.
    pub message: String,
    /// Log-server sequence of the record.
    pub sequence: u64,
    /// When the site observed it (millis; 0 = unknown, e.g. stored before this field existed).
    #[serde(default)]
    pub observed_at: i64,
    /// Why the site refused the spec of `generation` (permanent until the spec changes), if it
    /// did (`maestro_common::contract::refusal_at`).
    #[serde(default)]
    pub refused: Option<String>,
    /// The site's unhealthy verdict on the blueprint, about the generation the site is to run
    /// when the record arrived (`maestro_common::contract::unhealthy_at`), if any.
    #[serde(default)]
    pub unhealthy: Option<HealthVerdict>,
    /// The site's fall-back from that generation (`maestro_common::contract::fell_back_at`), if
    /// it fell back.
    #[serde(default)]
    pub fell_back: Option<HealthVerdict>,
}

/// Where a site's Git sync stood at its latest heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiteSync {
    /// The commit whose blueprints the site applied (empty before its first sync).
    pub commit: String,
    /// When that sync finished (millis), when known.
    pub synced_at_ms: Option<i64>,
    /// Why its latest attempt failed (empty when it succeeded).
    pub error: String,
    /// When its attempts started failing in a row (millis).
    pub failing_since_ms: Option<i64>,
    /// Why the site holds disruptive changes (a local pause); empty when it does not.
    #[serde(default)]
    pub paused: String,
    /// Since when it is paused (millis), when known.
    #[serde(default)]
    pub paused_since_ms: Option<i64>,
    /// Memory its host had available at the heartbeat, in bytes (0 = unknown).
    #[serde(default)]
    pub free_memory_bytes: u64,
    /// CPU its host had free at the heartbeat, in thousandths of a core (0 = unknown).
    #[serde(default)]
    pub free_cpu_millis: u64,
    /// When the domain took in that heartbeat (millis, the domain's clock; 0 = never).
    #[serde(default)]
    pub reported_at_ms: i64,
}

impl SiteSync {
    /// Whether `other` says the same as this to an intent's status: the commit the site runs,
    /// why its sync fails and since when, why it holds changes and since when. When it synced,
    /// when it reported and what its host has free are part of no status.
    pub fn same_for_status(&self, other: &SiteSync) -> bool {
        self.commit == other.commit
            && self.error == other.error
            && self.failing_since_ms == other.failing_since_ms
            && self.paused == other.paused
            && self.paused_since_ms == other.paused_since_ms
    }
}

/// A site's sync as the status of one intent sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteSyncView {
    /// What the site reported.
    pub sync: SiteSync,
    /// The site applied the intent's published commit or a later one of this domain.
    pub has_published: bool,
}

/// TMF638 service state of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentState {
    /// Not (yet) ready everywhere.
    Reserved,
    /// Ready at every target site at the generation that site is to run.
    Active,
    /// Reconciling failed.
    Inactive,
    /// Deleted and removed at every site.
    Terminated,
}

impl IntentState {
    /// The TMF638 name of the state, as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Terminated => "terminated",
        }
    }
}

/// Status of an intent at one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteStatus {
    /// The site.
    pub site: String,
    /// The generation the site is to run: the intent's, or during a rollout the previous one
    /// for a site the rollout does not admit; `None`: nothing of the service.
    pub desired_generation: Option<u64>,
    /// Blueprints ready at the site's desired generation.
    pub ready: u32,
    /// Blueprints rendered for the site.
    pub total: u32,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// The first blueprint that is not ready (`StatusReason::BlueprintPending`), if any.
    pub pending: Option<StatusReason>,
    /// Latest record of the site (millis), heartbeats included.
    pub last_heard: Option<i64>,
    /// Not heard from within the threshold: `ready`/`total` are the last known values.
    pub unreachable: bool,
    /// When the site observed the latest status it reported for this intent's blueprints (millis).
    pub observed_at: Option<i64>,
    /// The site's Git sync is failing (`StatusReason::SyncFailing`).
    pub sync_failing: Option<StatusReason>,
    /// The site holds disruptive changes by its own decision (`StatusReason::SitePaused`).
    pub paused: Option<StatusReason>,
    /// The first blueprint the site fell back from at its desired generation
    /// (`StatusReason::FellBack`).
    pub fell_back: Option<StatusReason>,
    /// The first blueprint unhealthy at the site's desired generation (`StatusReason::Unhealthy`).
    pub unhealthy: Option<StatusReason>,
}

/// Status of an intent in this domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentStatus {
    /// The intent.
    pub intent_id: String,
    /// This domain.
    pub domain: String,
    /// Desired generation.
    pub generation: u64,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// State.
    pub state: IntentState,
    /// Ready blueprints over all sites.
    pub ready: u32,
    /// Rendered blueprints over all sites.
    pub total: u32,
    /// Per target site.
    pub sites: Vec<SiteStatus>,
    /// Why the state is what it is (empty when active or terminated).
    pub reasons: Vec<StatusReason>,
    /// Commit holding the desired generation.
    pub commit: String,
}

/// Everything the status of one intent is computed from.
pub struct StatusInputs<'a> {
    /// This domain.
    pub domain: &'a str,
    /// The stored intent.
    pub intent: &'a Intent,
    /// Its target sites.
    pub sites: &'a [ResourceName],
    /// What was last rendered and published for it.
    pub rendered: Option<&'a RenderedIntent>,
    /// Latest status per (site, blueprint name) for the intent's blueprints.
    pub observed: &'a BTreeMap<(String, String), ObservedBlueprint>,
    /// Last record per site (millis).
    pub last_heard: &'a BTreeMap<String, i64>,
    /// Where each site's Git sync stood at its latest heartbeat.
    pub syncs: &'a BTreeMap<String, SiteSyncView>,
    /// The last reconcile error, if the last run failed permanently.
    pub error: Option<&'a str>,
    /// A transient failure of the last reconcile run, being retried (state unaffected).
    pub retrying: Option<Retry<'a>>,
    /// Held for the maintenance window: `Some(when it opens)`.
    pub held: Option<Option<i64>>,
    /// Reachability of the target sites.
    pub reachability: Reachability,
}

/// A transient reconcile failure being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry<'a> {
    /// What failed.
    pub error: &'a str,
    /// Failed attempts so far.
    pub attempt: u32,
    /// When the next attempt is due (millis), when known.
    pub next_attempt_ms: Option<i64>,
}

/// What decides whether a site is unreachable: see [`Reachability::unreachable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reachability {
    /// Now (millis).
    pub now: i64,
    /// When this orchestrator first held the intent (millis): a site gets the threshold from
    /// then to report before its silence counts.
    pub applied_at: i64,
    /// Silence longer than this makes a site unreachable; 0 disables the check.
    pub after_ms: u64,
}

impl Reachability {
    /// Whether a site last heard at `last_heard` counts as unreachable: silent for longer than
    /// the threshold, counted from its last record or, when it has not been heard since the
    /// intent was applied, from the apply time.
    pub fn unreachable(&self, last_heard: Option<i64>) -> bool {
        if self.after_ms == 0 {
            return false;
        }
        let since = last_heard.map_or(self.applied_at, |h| h.max(self.applied_at));
        self.now.saturating_sub(since) > i64::try_from(self.after_ms).unwrap_or(i64::MAX)
    }
}

/// Computes the status of an intent. Each site is judged against the generation it is to run
/// ([`Intent::desired_generation`]); a site that is to run nothing of the service is ready with
/// no blueprint.
pub fn compute(input: &StatusInputs<'_>) -> IntentStatus {
    let intent = input.intent;
    let published = input.rendered.filter(|r| {
        r.generation == intent.generation
            && r.step == intent.step()
            && r.deleted == intent.deleted
            && r.commit.is_some()
    });
    let mut sites = Vec::with_capacity(input.sites.len());
    // The first blueprint a site refused at its desired generation: the intent cannot converge.
    let mut refusal: Option<String> = None;
    for site in input.sites {
        let desired = intent.desired_generation(site.as_str());
        let blueprints: Vec<_> = input
            .rendered
            .map(|r| r.blueprints.iter().filter(|b| &b.site == site).collect())
            .unwrap_or_default();
        let mut ready = 0u32;
        let mut min_generation = u64::MAX;
        let mut pending: Option<StatusReason> = None;
        let mut health = SiteHealth::default();
        let mut observed_at: Option<i64> = None;
        let sync = input.syncs.get(site.as_str());
        for b in &blueprints {
            let seen = input.observed.get(&(site.to_string(), b.name.to_string()));
            // What the site says about the generation it is to run (a deletion has none).
            let current = seen.filter(|o| Some(o.generation) == desired && !intent.deleted);
            if let Some(reason) = current
                .and_then(|o| o.refused.as_ref())
                .filter(|_| refusal.is_none())
            {
                refusal = Some(format!(
                    "site {site} refused blueprint {}: {reason}",
                    b.name
                ));
            }
            if !intent.deleted {
                health.note(b.name.as_str(), seen, desired);
            }
            if let Some(t) = seen.map(|o| o.observed_at).filter(|t| *t > 0) {
                observed_at = Some(observed_at.map_or(t, |o| o.max(t)));
            }
            let is_ready = match seen {
                Some(o) if intent.deleted => o.removed && o.generation <= intent.generation,
                Some(o) => Some(o.generation) == desired && o.converged && !o.removed,
                // A site that never reported the blueprint and has applied the commit of the
                // deletion (or a later one) does not hold it: nothing is left to remove there.
                None => {
                    intent.deleted && published.is_some() && sync.is_some_and(|s| s.has_published)
                }
            };
            if is_ready {
                ready += 1;
            } else if pending.is_none() {
                pending = Some(StatusReason::BlueprintPending {
                    blueprint: b.name.to_string(),
                    generation: seen.map(|o| o.generation),
                    message: seen
                        .map(|o| truncated(&o.message, MAX_SITE_MESSAGE_BYTES))
                        .unwrap_or_default(),
                });
            }
            min_generation = min_generation.min(seen.map_or(0, |o| o.generation));
        }
        let total = u32::try_from(blueprints.len()).unwrap_or(u32::MAX);
        let observed_generation = if ready == total {
            desired.unwrap_or(0)
        } else {
            min_generation
        };
        let last_heard = input.last_heard.get(site.as_str()).copied();
        sites.push(SiteStatus {
            site: site.to_string(),
            desired_generation: desired,
            ready,
            total,
            observed_generation,
            pending,
            last_heard,
            unreachable: input.reachability.unreachable(last_heard),
            observed_at,
            sync_failing: sync.filter(|s| !s.sync.error.is_empty()).map(|s| {
                StatusReason::SyncFailing {
                    site: site.to_string(),
                    error: s.sync.error.clone(),
                    since_ms: s.sync.failing_since_ms,
                    commit: s.sync.commit.clone(),
                }
            }),
            paused: sync
                .filter(|s| !s.sync.paused.is_empty())
                .map(|s| StatusReason::SitePaused {
                    site: site.to_string(),
                    reason: truncated(&s.sync.paused, MAX_SITE_MESSAGE_BYTES),
                    since_ms: s.sync.paused_since_ms,
                }),
            fell_back: health.fell_back,
            unhealthy: health.unhealthy,
        });
    }
    let ready = sites.iter().map(|s| s.ready).sum();
    let total = sites.iter().map(|s| s.total).sum();
    let all_ready = published.is_some() && sites.iter().all(|s| s.ready == s.total);
    // Sites that are to run nothing of the service have no generation to observe.
    let observed_generation = sites
        .iter()
        .filter(|s| s.desired_generation.is_some())
        .map(|s| s.observed_generation)
        .min()
        .unwrap_or(intent.generation);
    // The state stays the one computed from the last reports, even while a site is unreachable:
    // the per-site `unreachable` flags say the knowledge is stale, and maestro holds the item
    // pending on them (see "Status that never lies" in docs/contracts.md).
    let site_count = u32::try_from(sites.len()).unwrap_or(u32::MAX);
    let error = input.error.or(refusal.as_deref());
    let (mut state, mut reasons) = match (error, all_ready, intent.deleted) {
        (Some(e), _, _) => (
            IntentState::Inactive,
            vec![StatusReason::Failed {
                domain: String::new(),
                error: e.to_string(),
            }],
        ),
        (None, true, false) => (IntentState::Active, Vec::new()),
        (None, true, true) => (IntentState::Terminated, Vec::new()),
        (None, false, _) if published.is_none() => {
            (IntentState::Reserved, vec![StatusReason::WaitingForCommit])
        }
        (None, false, _) => {
            let waiting = sites.iter().filter(|s| s.ready < s.total).count();
            (
                IntentState::Reserved,
                vec![StatusReason::WaitingForSites {
                    waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
                    total: site_count,
                }],
            )
        }
    };
    if let (None, Some(opens_at_ms)) = (error, input.held) {
        state = IntentState::Reserved;
        reasons = vec![StatusReason::MaintenanceWindow { opens_at_ms }];
    }
    if let Some(r) = input.retrying {
        reasons.push(StatusReason::Retrying {
            domain: String::new(),
            error: r.error.to_string(),
            attempt: r.attempt,
            next_attempt_ms: r.next_attempt_ms,
        });
    }
    let unreachable = sites.iter().filter(|s| s.unreachable).count();
    if unreachable > 0 {
        reasons.push(StatusReason::SitesUnreachable {
            unreachable: u32::try_from(unreachable).unwrap_or(u32::MAX),
            total: site_count,
        });
    }
    IntentStatus {
        intent_id: intent.id.clone(),
        domain: input.domain.to_string(),
        generation: intent.generation,
        observed_generation: if all_ready {
            intent.generation
        } else {
            observed_generation.min(intent.generation)
        },
        state,
        ready,
        total,
        sites,
        reasons,
        commit: published.and_then(|r| r.commit.clone()).unwrap_or_default(),
    }
}

impl From<IntentState> for pb::ServiceState {
    fn from(s: IntentState) -> Self {
        match s {
            IntentState::Reserved => pb::ServiceState::Reserved,
            IntentState::Active => pb::ServiceState::Active,
            IntentState::Inactive => pb::ServiceState::Inactive,
            IntentState::Terminated => pb::ServiceState::Terminated,
        }
    }
}

impl SiteStatus {
    /// Why the site is not ready, typed: `Unreachable` (since its last record) first when it is
    /// cut off, then `SitePaused` when it holds changes, `SyncFailing` when its Git sync fails,
    /// `FellBack` and `Unhealthy` for the first blueprints the site gave up on or finds unhealthy
    /// at its desired generation, then the first blueprint that is not ready.
    pub fn reasons(&self, domain: &str) -> Vec<StatusReason> {
        let unreachable = self.unreachable.then(|| StatusReason::Unreachable {
            domain: domain.to_string(),
            site: Some(self.site.clone()),
            last_heard_ms: self.last_heard,
        });
        unreachable
            .into_iter()
            .chain(self.paused.clone())
            .chain(self.sync_failing.clone())
            .chain(self.fell_back.clone())
            .chain(self.unhealthy.clone())
            .chain(self.pending.clone())
            .collect()
    }

    /// Whether reachability differs between two views of the same site.
    fn reachability_differs(&self, other: &SiteStatus) -> bool {
        self.site != other.site || self.unreachable != other.unreachable
    }
}

impl IntentStatus {
    /// Whether the set of unreachable sites differs from `other`'s.
    pub fn reachability_differs(&self, other: &IntentStatus) -> bool {
        self.sites.len() != other.sites.len()
            || self
                .sites
                .iter()
                .zip(&other.sites)
                .any(|(a, b)| a.reachability_differs(b))
    }

    /// The proto form, stamped with `updated_at` (millis). Holds timestamps, never ages: the
    /// same status gives the same message whenever it is read.
    pub fn to_proto(&self, updated_at: i64) -> pb::IntentStatus {
        pb::IntentStatus {
            intent_id: self.intent_id.clone(),
            domain: self.domain.clone(),
            generation: self.generation,
            observed_generation: self.observed_generation,
            state: pb::ServiceState::from(self.state) as i32,
            ready: self.ready,
            total: self.total,
            sites: self
                .sites
                .iter()
                .map(|s| {
                    let reasons = s.reasons(&self.domain);
                    pb::SiteStatus {
                        site: s.site.clone(),
                        ready: s.ready,
                        total: s.total,
                        observed_generation: s.observed_generation,
                        message: reasons_text(&reasons),
                        last_heard: s.last_heard.map(maestro_common::time::timestamp),
                        unreachable: s.unreachable,
                        observed_at: s.observed_at.map(maestro_common::time::timestamp),
                        reasons: reasons_to_proto(&reasons),
                        desired_generation: s.desired_generation.unwrap_or(0),
                    }
                })
                .collect(),
            message: reasons_text(&self.reasons),
            commit: self.commit.clone(),
            updated_at: Some(maestro_common::time::timestamp(updated_at)),
            withheld: Vec::new(),
            reasons: reasons_to_proto(&self.reasons),
        }
    }
}

#[cfg(test)]
mod tests;
