//! Dependency order between the blueprints of a site: the annotation
//! `maestro.io/depends-on: "a,b"` names blueprints (at the same site) that must exist in the
//! colony and be converged before this one is added or updated; a blueprint is removed only
//! once nothing that depends on it is left (in the colony or still being cleaned up).
//!
//! [`plan_order`] is a pure function over the site's files and a view of the colony, re-run on
//! every sync tick: what waits now is looked at again on the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use colony::model::Blueprint;

/// Annotation listing the blueprints (comma-separated names) a blueprint depends on.
pub use maestro_common::contract::ANN_DEPENDS_ON as DEPENDS_ON;

/// The dependencies a blueprint declares: the comma-separated names of its
/// [`DEPENDS_ON`] annotation, trimmed, without empties, duplicates and itself.
pub fn dependencies(bp: &Blueprint) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(raw) = bp.metadata.annotations.get(DEPENDS_ON) else {
        return out;
    };
    for name in raw.split(',').map(str::trim) {
        if !name.is_empty() && name != bp.metadata.name && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// A blueprint file of the site, as ordering sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredEntry {
    /// Its declared dependencies.
    pub depends_on: Vec<String>,
    /// The colony must be changed for it (added, updated or replaced).
    pub changed: bool,
}

/// A blueprint in the colony, as ordering sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColonyEntry {
    /// Its declared dependencies (from the colony's copy).
    pub depends_on: Vec<String>,
    /// Its status says it converged at its current generation.
    pub converged: bool,
}

/// Why a dependency is not ready yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// No blueprint of that name is in the colony.
    Missing,
    /// It is in the colony but its status has not converged.
    NotConverged,
    /// It is itself about to be added or updated.
    Changing,
    /// It is being removed.
    Removing,
    /// It depends (directly or not) on the waiting blueprint.
    Cycle,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "not in the colony yet",
            Self::NotConverged => "not converged yet",
            Self::Changing => "being applied",
            Self::Removing => "being removed",
            Self::Cycle => "dependency cycle",
        })
    }
}

/// A blueprint that is not changed this round because of a dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The blueprint that waits.
    pub name: String,
    /// The dependency it waits for.
    pub dependency: String,
    /// Why.
    pub reason: NotReady,
}

/// A blueprint that is not removed this round because something still depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The blueprint to remove later.
    pub name: String,
    /// A blueprint that still depends on it.
    pub dependent: String,
}

/// What one sync round may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderPlan {
    /// Changed blueprints whose dependencies are all ready: add or update them now.
    pub apply: Vec<String>,
    /// Changed blueprints that wait for a dependency.
    pub waiting: Vec<Waiting>,
    /// Blueprints to remove now (nothing depends on them any more).
    pub remove: Vec<String>,
    /// Blueprints to remove once their dependents are gone.
    pub held: Vec<Held>,
}

impl OrderPlan {
    /// True when nothing waits or is held: the round reaches the files' state.
    pub fn complete(&self) -> bool {
        self.waiting.is_empty() && self.held.is_empty()
    }
}

/// Plans one round. `desired`: the site's valid blueprint files by name; `colony`: every
/// blueprint in the colony by name; `removable`: colony blueprints the sync would remove
/// (managed, no longer in the files); `cleaning_up`: removed blueprints whose cleanup has not
/// finished, with their dependencies.
pub fn plan_order(
    desired: &BTreeMap<String, DesiredEntry>,
    colony: &BTreeMap<String, ColonyEntry>,
    removable: &BTreeSet<String>,
    cleaning_up: &BTreeMap<String, Vec<String>>,
) -> OrderPlan {
    let mut plan = OrderPlan::default();
    for (name, want) in desired.iter().filter(|(_, w)| w.changed) {
        let blocked = want.depends_on.iter().find_map(|dep| {
            let reason = if in_cycle(name, dep, desired) {
                Some(NotReady::Cycle)
            } else if removable.contains(dep) {
                Some(NotReady::Removing)
            } else if desired.get(dep).is_some_and(|d| d.changed) {
                Some(NotReady::Changing)
            } else {
                match colony.get(dep) {
                    None => Some(NotReady::Missing),
                    Some(c) if !c.converged => Some(NotReady::NotConverged),
                    Some(_) => None,
                }
            };
            reason.map(|reason| Waiting {
                name: name.clone(),
                dependency: dep.clone(),
                reason,
            })
        });
        match blocked {
            Some(w) => plan.waiting.push(w),
            None => plan.apply.push(name.clone()),
        }
    }
    for name in removable {
        let dependent = colony
            .iter()
            .map(|(n, c)| (n, &c.depends_on))
            .chain(cleaning_up.iter())
            .find(|(n, deps)| *n != name && deps.contains(name))
            .map(|(n, _)| n.clone());
        match dependent {
            Some(dependent) => plan.held.push(Held {
                name: name.clone(),
                dependent,
            }),
            None => plan.remove.push(name.clone()),
        }
    }
    plan
}

/// True when `dep` leads back to `name` through the files' dependencies.
fn in_cycle(name: &str, dep: &str, desired: &BTreeMap<String, DesiredEntry>) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![dep];
    while let Some(next) = todo.pop() {
        if next == name {
            return true;
        }
        if !seen.insert(next) {
            continue;
        }
        if let Some(d) = desired.get(next) {
            todo.extend(d.depends_on.iter().map(String::as_str));
        }
    }
    false
}

#[cfg(test)]
mod tests;
