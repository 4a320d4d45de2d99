//! Pure convergence planning: from the desired containers of one blueprint and the managed
//! containers observed for it, to the actions that make them equal. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::labels;
use crate::runtime::{ContainerState, ObservedContainer};
use crate::spec::DesiredContainer;

/// Why a container is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// It runs an older (or another) generation of the blueprint.
    OldGeneration,
    /// The spec does not ask for it: scaled down, instance removed, or started by hand.
    NotInSpec,
    /// Its labels do not match the slot its name claims.
    LabelMismatch,
    /// It is dead or being removed and cannot be started again.
    Unrecoverable,
    /// Its blueprint no longer exists (orphan or cleanup).
    BlueprintGone,
}

impl RemoveReason {
    /// A short human-readable reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OldGeneration => "older generation",
            Self::NotInSpec => "not in the spec",
            Self::LabelMismatch => "labels do not match its slot",
            Self::Unrecoverable => "dead",
            Self::BlueprintGone => "blueprint no longer exists",
        }
    }
}

/// One step of a convergence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop and remove a container.
    Remove {
        /// Container id.
        id: String,
        /// Container name.
        name: String,
        /// Why.
        reason: RemoveReason,
    },
    /// Start an existing container that exited (or was never started).
    Start {
        /// Container id.
        id: String,
        /// Container name.
        name: String,
    },
    /// Create and start a container.
    Create(Box<DesiredContainer>),
}

impl Action {
    /// The container name the action is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Remove { name, .. } | Self::Start { name, .. } => name,
            Self::Create(d) => &d.name,
        }
    }
}

/// Plans one round of the convergence of `observed` (the managed containers of one blueprint)
/// to `desired`. Removals come first (they free names), then starts, then creations; each group
/// is sorted by container name. A container is kept when its name is a desired slot, its labels
/// match that slot, and it runs the desired template (see [`DesiredContainer::template`]; a
/// container made before templates were must carry the desired generation): a change of the
/// generation alone (e.g. `replicas`) touches no running container. Containers of another
/// template are replaced in place, at most `maxUnavailable` slots down at a time counting the
/// slots already down (a current container whose health check has not passed counts as down);
/// the rest keep running until a later round. Exited ones are started again.
pub fn plan(desired: &[DesiredContainer], observed: &[ObservedContainer]) -> Vec<Action> {
    let slots: BTreeMap<&str, &DesiredContainer> =
        desired.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut sorted: Vec<&ObservedContainer> = observed.iter().collect();
    // Prefer keeping a running container when (in a fake or racy engine) two share a name.
    sorted.sort_by_key(|o| (o.name.clone(), !o.is_up(), o.id.clone()));
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    let mut removes = Vec::new();
    let mut starts = Vec::new();
    // Running containers of another template, by slot: replaced within the rollout budget.
    let mut outdated: Vec<&ObservedContainer> = Vec::new();
    // Current containers that are up but whose health check has not passed: unavailable.
    let mut unready = 0;
    for o in sorted {
        let remove = |reason| Action::Remove {
            id: o.id.clone(),
            name: o.name.clone(),
            reason,
        };
        let Some(d) = slots.get(o.name.as_str()) else {
            removes.push(remove(RemoveReason::NotInSpec));
            continue;
        };
        if kept.contains(d.name.as_str()) {
            removes.push(remove(RemoveReason::NotInSpec));
        } else if !labels_match(o, d) {
            removes.push(remove(RemoveReason::LabelMismatch));
        } else if !is_current(o, d) {
            if o.is_up() {
                kept.insert(d.name.as_str());
                outdated.push(o);
            } else {
                removes.push(remove(RemoveReason::OldGeneration));
            }
        } else {
            match o.state {
                ContainerState::Running | ContainerState::Paused | ContainerState::Restarting => {
                    kept.insert(d.name.as_str());
                    unready += usize::from(o.is_unready());
                }
                ContainerState::Created | ContainerState::Exited => {
                    kept.insert(d.name.as_str());
                    starts.push(Action::Start {
                        id: o.id.clone(),
                        name: o.name.clone(),
                    });
                }
                ContainerState::Removing | ContainerState::Dead | ContainerState::Unknown(_) => {
                    removes.push(remove(RemoveReason::Unrecoverable));
                }
            }
        }
    }
    // Slots down now: to be created (nothing up in them), to be started again, or up but not
    // healthy (yet).
    let down = desired
        .iter()
        .filter(|d| !kept.contains(d.name.as_str()))
        .count()
        + starts.len()
        + unready;
    let max_unavailable = desired.first().map_or(1, |d| d.max_unavailable) as usize;
    for o in outdated
        .into_iter()
        .take(max_unavailable.saturating_sub(down))
    {
        kept.remove(o.name.as_str());
        removes.push(Action::Remove {
            id: o.id.clone(),
            name: o.name.clone(),
            reason: RemoveReason::OldGeneration,
        });
    }
    let creates = desired
        .iter()
        .filter(|d| !kept.contains(d.name.as_str()))
        .map(|d| Action::Create(Box::new(d.clone())));
    removes.sort_by(|a: &Action, b| a.name().cmp(b.name()));
    removes.into_iter().chain(starts).chain(creates).collect()
}

/// Whether `o` runs what `d` asks for.
pub fn is_current(o: &ObservedContainer, d: &DesiredContainer) -> bool {
    match o.label(labels::TEMPLATE) {
        "" => o.generation() == Some(d.generation),
        template => template == d.template(),
    }
}

fn labels_match(o: &ObservedContainer, d: &DesiredContainer) -> bool {
    o.label(labels::MANAGED) == "true"
        && o.label(labels::BLUEPRINT) == d.blueprint
        && o.label(labels::COLONY) == d.colony
        && o.label(labels::INSTANCE) == d.instance
        && o.label(labels::REPLICA) == d.replica.to_string()
}

#[cfg(test)]
mod tests;
