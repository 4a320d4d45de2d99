//! Pure convergence planning: from desired (generation, replicas) and the observed instances
//! to the actions that make them equal.

use std::collections::BTreeSet;

/// One instance as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Process id.
    pub pid: u32,
    /// Instance index (0-based).
    pub index: u32,
    /// Colony generation the instance runs.
    pub generation: i64,
    /// Whether the process is still alive (and still ours).
    pub alive: bool,
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Dead instances to forget (their slot is restarted through `start`).
    pub forget: Vec<u32>,
    /// Live instances to stop: older generation, duplicates, or beyond `replicas`.
    pub stop: Vec<u32>,
    /// Instance indexes to start.
    pub start: Vec<u32>,
}

impl Plan {
    /// True when nothing needs doing.
    pub fn is_empty(&self) -> bool {
        self.forget.is_empty() && self.stop.is_empty() && self.start.is_empty()
    }
}

/// Plans the convergence of `observed` to `replicas` instances of `generation`.
pub fn plan(generation: i64, replicas: u32, observed: &[Observed]) -> Plan {
    let mut p = Plan::default();
    let mut kept = BTreeSet::new();
    let mut sorted: Vec<&Observed> = observed.iter().collect();
    sorted.sort_by_key(|o| (o.index, o.pid));
    for o in &sorted {
        if !o.alive {
            p.forget.push(o.pid);
        } else if o.index < replicas && o.generation == generation && kept.insert(o.index) {
            // The first live instance of the right generation keeps its slot.
        } else {
            p.stop.push(o.pid);
        }
    }
    p.start = (0..replicas).filter(|i| !kept.contains(i)).collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pid: u32, index: u32, generation: i64, alive: bool) -> Observed {
        Observed {
            pid,
            index,
            generation,
            alive,
        }
    }

    #[test]
    fn empty_starts_all() {
        assert_eq!(
            plan(1, 2, &[]),
            Plan {
                forget: vec![],
                stop: vec![],
                start: vec![0, 1]
            }
        );
    }

    #[test]
    fn converged_is_a_no_op() {
        assert!(plan(1, 2, &[o(10, 0, 1, true), o(11, 1, 1, true)]).is_empty());
    }

    #[test]
    fn dead_are_restarted_old_replaced_extra_stopped() {
        let p = plan(
            2,
            2,
            &[
                o(10, 0, 2, false),
                o(11, 1, 1, true),
                o(12, 2, 2, true),
                o(13, 0, 2, true),
            ],
        );
        assert_eq!(p.forget, vec![10]);
        assert_eq!(p.stop, vec![11, 12]);
        assert_eq!(p.start, vec![1]);
    }

    #[test]
    fn duplicates_in_a_slot_are_stopped() {
        let p = plan(1, 1, &[o(10, 0, 1, true), o(11, 0, 1, true)]);
        assert_eq!(
            p,
            Plan {
                forget: vec![],
                stop: vec![11],
                start: vec![]
            }
        );
    }

    #[test]
    fn scale_to_zero_stops_everything() {
        let p = plan(1, 0, &[o(10, 0, 1, true)]);
        assert_eq!(
            p,
            Plan {
                forget: vec![],
                stop: vec![10],
                start: vec![]
            }
        );
    }
}
