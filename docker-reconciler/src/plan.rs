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

/// Plans the convergence of `observed` (the managed containers of one blueprint) to `desired`.
/// Removals come first (they free names), then starts, then creations; each group is sorted by
/// container name. A container is kept when its name is a desired slot, its labels match that
/// slot, and it carries the desired generation; exited ones are started again.
pub fn plan(desired: &[DesiredContainer], observed: &[ObservedContainer]) -> Vec<Action> {
    let slots: BTreeMap<&str, &DesiredContainer> =
        desired.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut sorted: Vec<&ObservedContainer> = observed.iter().collect();
    // Prefer keeping a running container when (in a fake or racy engine) two share a name.
    sorted.sort_by_key(|o| (o.name.clone(), !o.is_up(), o.id.clone()));
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    let mut removes = Vec::new();
    let mut starts = Vec::new();
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
        } else if o.generation() != Some(d.generation) {
            removes.push(remove(RemoveReason::OldGeneration));
        } else {
            match o.state {
                ContainerState::Running | ContainerState::Paused | ContainerState::Restarting => {
                    kept.insert(d.name.as_str());
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
    let creates = desired
        .iter()
        .filter(|d| !kept.contains(d.name.as_str()))
        .map(|d| Action::Create(Box::new(d.clone())));
    removes.sort_by(|a: &Action, b| a.name().cmp(b.name()));
    removes.into_iter().chain(starts).chain(creates).collect()
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
