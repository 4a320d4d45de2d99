//! The service inventory: per service instance, its current generation, spec, characteristics
//! and targets. Add -> generation 1, modify -> +1, delete -> +1 and deleted.

use crate::error::OrderError;
use crate::model::{Action, CharacteristicValue, Placement};
use maestro_common::ids::MAX_GENERATION;
use serde::{Deserialize, Serialize};

/// One domain a service runs in, with its sites (empty = all sites of the domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Domain id.
    pub domain: String,
    /// Sites; empty = all.
    pub sites: Vec<String>,
}

/// A service instance as the inventory knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// Service instance name.
    pub name: String,
    /// Current generation.
    pub generation: u64,
    /// Whether the latest generation deletes it.
    pub deleted: bool,
    /// Spec id.
    pub spec_id: String,
    /// Spec version.
    pub spec_version: String,
    /// Characteristics (defaults applied).
    pub characteristics: Vec<CharacteristicValue>,
    /// Placement as last ordered.
    pub placement: Placement,
    /// Where it runs.
    pub targets: Vec<Target>,
    /// Order that produced the current generation.
    pub order_id: String,
    /// Blueprint templates of the current generation, each a JSON document (empty in entries
    /// stored before they were kept).
    #[serde(default)]
    pub templates: Vec<String>,
    /// W3C traceparent of the order that produced the current generation.
    #[serde(default)]
    pub traceparent: String,
}

/// The generation `action` gives service `name` whose inventory entry is `current`, or why the
/// action is not allowed. A re-add of a deleted service continues its generation count, so the
/// domains (which ignore lower generations) accept it.
pub fn next_generation(
    name: &str,
    action: Action,
    current: Option<&InventoryEntry>,
) -> Result<u64, OrderError> {
    let live = current.filter(|c| !c.deleted);
    let after = |c: &InventoryEntry| {
        c.generation
            .checked_add(1)
            .filter(|g| *g <= MAX_GENERATION)
            .ok_or_else(|| {
                OrderError::FailedPrecondition(format!(
                    "service '{name}' is at generation {}, the highest there is",
                    c.generation
                ))
            })
    };
    match (action, live) {
        (Action::Add, None) => current.map_or(Ok(1), after),
        (Action::Add, Some(_)) => Err(OrderError::AlreadyExists(format!(
            "service '{name}' already exists; use modify or delete"
        ))),
        (Action::Modify | Action::Delete, Some(c)) => after(c),
        (Action::Modify | Action::Delete, None) => Err(OrderError::FailedPrecondition(format!(
            "service '{name}' does not exist (or was deleted); use add"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(generation: u64, deleted: bool) -> InventoryEntry {
        InventoryEntry {
            name: "web".into(),
            generation,
            deleted,
            spec_id: "demo".into(),
            spec_version: String::new(),
            characteristics: vec![],
            placement: Placement::default(),
            targets: vec![],
            order_id: "o".into(),
            templates: vec![],
            traceparent: String::new(),
        }
    }

    #[test]
    fn generations_follow_the_actions() {
        assert_eq!(next_generation("web", Action::Add, None).unwrap(), 1);
        assert_eq!(
            next_generation("web", Action::Modify, Some(&entry(1, false))).unwrap(),
            2
        );
        assert_eq!(
            next_generation("web", Action::Delete, Some(&entry(2, false))).unwrap(),
            3
        );
        assert_eq!(
            next_generation("web", Action::Add, Some(&entry(3, true))).unwrap(),
            4
        );
    }

    #[test]
    fn no_generation_past_the_highest_is_planned() {
        for action in [Action::Modify, Action::Delete] {
            let e = next_generation("web", action, Some(&entry(MAX_GENERATION, false)));
            assert!(matches!(e, Err(OrderError::FailedPrecondition(_))), "{e:?}");
        }
        let e = next_generation("web", Action::Add, Some(&entry(u64::MAX, true)));
        assert!(matches!(e, Err(OrderError::FailedPrecondition(_))), "{e:?}");
        assert_eq!(
            next_generation(
                "web",
                Action::Modify,
                Some(&entry(MAX_GENERATION - 1, false))
            )
            .unwrap(),
            MAX_GENERATION
        );
    }

    #[test]
    fn refuses_what_the_inventory_does_not_allow() {
        assert!(matches!(
            next_generation("web", Action::Add, Some(&entry(1, false))),
            Err(OrderError::AlreadyExists(_))
        ));
        assert!(matches!(
            next_generation("web", Action::Modify, None),
            Err(OrderError::FailedPrecondition(_))
        ));
        assert!(matches!(
            next_generation("web", Action::Delete, Some(&entry(2, true))),
            Err(OrderError::FailedPrecondition(_))
        ));
    }
}
