//! The Docker reconciler's health verdict: failed health checks of the containers that run the
//! desired template, counted in a row across convergences ([`reconciler::fallback`]) and written
//! as `unhealthy` in the blueprint status. It never falls back: containers are replaced in place
//! (same name, no surge), so the slot whose new container fails has no earlier container left to
//! keep serving, and the rollout already goes no further while that container is not healthy.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use colony::model::Blueprint;
use reconciler::Judgement;
use reconciler::fallback::{self, Count, Key, Seen};

use crate::plan::is_current;
use crate::runtime::{Health, ObservedContainer};
use crate::spec::DesiredContainer;

/// Per blueprint, its count at its desired blueprint. In memory: a restarted agent goes on from
/// the verdict the blueprint's last status records for the same desired blueprint.
#[derive(Debug, Default)]
pub(crate) struct Counts(Mutex<HashMap<String, Count>>);

impl Counts {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Count>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A convergence of `bp` begins: its count goes on, or starts afresh for a changed blueprint.
    pub(crate) fn begin(&self, bp: &Blueprint) {
        let name = &bp.metadata.name;
        let mut counts = self.lock();
        let count = fallback::resume(counts.get(name), Key::of(bp), &bp.status);
        counts.insert(name.clone(), count);
    }

    /// The convergence of `name` ended with `observed`: counts what it shows.
    pub(crate) fn judge(
        &self,
        name: &str,
        desired: &[DesiredContainer],
        observed: &[ObservedContainer],
    ) -> Judgement {
        let mut counts = self.lock();
        let Some(count) = counts.get_mut(name) else {
            return Judgement::default();
        };
        // Nothing to fall back to: the limit is never reached with an earlier container serving.
        *count = count.next(seen(desired, observed), u32::MAX, false);
        Judgement {
            verdict: count.verdict(),
            ..Judgement::default()
        }
    }

    /// The blueprint `name` is gone: so is its count.
    pub(crate) fn forget(&self, name: &str) {
        self.lock().remove(name);
    }
}

/// What the containers running the desired template say of their health check: a failure when
/// one is unhealthy, a pass when one is healthy and none unhealthy, else nothing (no check, or
/// still starting).
pub(crate) fn seen(desired: &[DesiredContainer], observed: &[ObservedContainer]) -> Seen {
    let current = observed
        .iter()
        .filter(|o| o.is_up() && desired.iter().any(|d| d.name == o.name && is_current(o, d)));
    let mut passed = false;
    for o in current {
        match o.health {
            Some(Health::Unhealthy) if o.health_log.is_empty() => {
                return Seen::Failed(format!("container {} is unhealthy", o.name));
            }
            Some(Health::Unhealthy) => {
                return Seen::Failed(format!(
                    "container {} is unhealthy (last probe: {:?})",
                    o.name, o.health_log
                ));
            }
            Some(Health::Healthy) => passed = true,
            _ => {}
        }
    }
    if passed { Seen::Passed } else { Seen::Nothing }
}
