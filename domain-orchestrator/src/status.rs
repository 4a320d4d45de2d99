//! Intent status from what the sites reported: a pure function, unit-tested without I/O.
//! See "Status up the tiers" in `docs/contracts.md`.

use crate::intent::Intent;
use crate::store::RenderedIntent;
use maestro_common::ResourceName;
use maestro_proto::intent::v1 as pb;
use std::collections::BTreeMap;

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
}

/// TMF638 service state of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentState {
    /// Not (yet) ready everywhere.
    Reserved,
    /// Ready at every target site at the desired generation.
    Active,
    /// Reconciling failed.
    Inactive,
    /// Deleted and removed at every site.
    Terminated,
}

/// Status of an intent at one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteStatus {
    /// The site.
    pub site: String,
    /// Blueprints ready at the desired generation.
    pub ready: u32,
    /// Blueprints rendered for the site.
    pub total: u32,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// First message of a blueprint that is not ready.
    pub message: String,
    /// Latest record of the site (millis), heartbeats included.
    pub last_heard: Option<i64>,
    /// Not heard from within the threshold: `ready`/`total` are the last known values.
    pub unreachable: bool,
    /// When the site observed the latest status it reported for this intent's blueprints (millis).
    pub observed_at: Option<i64>,
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
    /// Why the state is what it is.
    pub message: String,
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
    /// The last reconcile error, if the last run failed.
    pub error: Option<&'a str>,
    /// A transient failure of the last reconcile run, being retried (state unaffected).
    pub retrying: Option<&'a str>,
    /// Reachability of the target sites.
    pub reachability: Reachability,
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

/// Computes the status of an intent.
pub fn compute(input: &StatusInputs<'_>) -> IntentStatus {
    let intent = input.intent;
    let published = input.rendered.filter(|r| {
        r.generation == intent.generation && r.deleted == intent.deleted && r.commit.is_some()
    });
    let mut sites = Vec::with_capacity(input.sites.len());
    for site in input.sites {
        let blueprints: Vec<_> = input
            .rendered
            .map(|r| r.blueprints.iter().filter(|b| &b.site == site).collect())
            .unwrap_or_default();
        let mut ready = 0u32;
        let mut min_generation = u64::MAX;
        let mut message = String::new();
        let mut observed_at: Option<i64> = None;
        for b in &blueprints {
            let seen = input.observed.get(&(site.to_string(), b.name.to_string()));
            if let Some(t) = seen.map(|o| o.observed_at).filter(|t| *t > 0) {
                observed_at = Some(observed_at.map_or(t, |o| o.max(t)));
            }
            let is_ready = seen.is_some_and(|o| {
                if intent.deleted {
                    o.removed && o.generation <= intent.generation
                } else {
                    o.generation == intent.generation && o.converged && !o.removed
                }
            });
            if is_ready {
                ready += 1;
            } else if message.is_empty() {
                message = match seen {
                    None => format!("{}: no status yet", b.name),
                    Some(o) if o.message.is_empty() => {
                        format!("{}: at generation {}", b.name, o.generation)
                    }
                    Some(o) => format!("{}: {}", b.name, o.message),
                };
            }
            min_generation = min_generation.min(seen.map_or(0, |o| o.generation));
        }
        let total = u32::try_from(blueprints.len()).unwrap_or(u32::MAX);
        let observed_generation = if ready == total {
            intent.generation
        } else {
            min_generation
        };
        let last_heard = input.last_heard.get(site.as_str()).copied();
        sites.push(SiteStatus {
            site: site.to_string(),
            ready,
            total,
            observed_generation,
            message,
            last_heard,
            unreachable: input.reachability.unreachable(last_heard),
            observed_at,
        });
    }
    let ready = sites.iter().map(|s| s.ready).sum();
    let total = sites.iter().map(|s| s.total).sum();
    let all_ready = published.is_some() && sites.iter().all(|s| s.ready == s.total);
    let observed_generation = sites
        .iter()
        .map(|s| s.observed_generation)
        .min()
        .unwrap_or(intent.generation);
    // The state stays the one computed from the last reports, even while a site is unreachable:
    // the per-site `unreachable` flags say the knowledge is stale, and maestro holds the item
    // pending on them (see "Status that never lies" in docs/contracts.md).
    let (state, mut message) = match (input.error, all_ready, intent.deleted) {
        (Some(e), _, _) => (IntentState::Inactive, e.to_string()),
        (None, true, false) => (IntentState::Active, String::new()),
        (None, true, true) => (IntentState::Terminated, String::new()),
        (None, false, _) if published.is_none() => {
            (IntentState::Reserved, "waiting for the commit".to_string())
        }
        (None, false, _) => {
            let waiting = sites.iter().filter(|s| s.ready < s.total).count();
            (
                IntentState::Reserved,
                format!("waiting for {waiting} of {} sites", sites.len()),
            )
        }
    };
    if let Some(e) = input.retrying {
        let note = format!("retrying after: {e}");
        message = if message.is_empty() {
            note
        } else {
            format!("{message}; {note}")
        };
    }
    let unreachable = sites.iter().filter(|s| s.unreachable).count();
    if unreachable > 0 {
        let note = format!("{unreachable} of {} sites unreachable", sites.len());
        message = if message.is_empty() {
            note
        } else {
            format!("{message}; {note}")
        };
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
        message,
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
    /// The message as reported: `unreachable (last seen N s ago)` (N at `now`) first when
    /// the site is unreachable, then the blueprint message.
    pub fn reported_message(&self, now: i64) -> String {
        if !self.unreachable {
            return self.message.clone();
        }
        let seen = match self.last_heard {
            Some(t) => format!("last seen {} s ago", now.saturating_sub(t).max(0) / 1000),
            None => "never heard from".to_string(),
        };
        if self.message.is_empty() {
            format!("unreachable ({seen})")
        } else {
            format!("unreachable ({seen}); {}", self.message)
        }
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

    /// The proto form, stamped with `updated_at` (millis).
    pub fn to_proto(&self, updated_at: i64) -> pb::IntentStatus {
        self.to_proto_at(updated_at, updated_at)
    }

    /// The proto form, stamped with `updated_at`; ages in messages are computed at `now`.
    pub fn to_proto_at(&self, updated_at: i64, now: i64) -> pb::IntentStatus {
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
                .map(|s| pb::SiteStatus {
                    site: s.site.clone(),
                    ready: s.ready,
                    total: s.total,
                    observed_generation: s.observed_generation,
                    message: s.reported_message(now),
                    last_heard: s.last_heard.map(maestro_common::time::timestamp),
                    unreachable: s.unreachable,
                    observed_at: s.observed_at.map(maestro_common::time::timestamp),
                })
                .collect(),
            message: self.message.clone(),
            commit: self.commit.clone(),
            updated_at: Some(maestro_common::time::timestamp(updated_at)),
        }
    }
}

#[cfg(test)]
mod tests;
