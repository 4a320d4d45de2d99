//! Pure convergence planning: from what should run (a template, `replicas`, the rollout limits)
//! and the observed instances to one round of actions. Rounds repeat until the plan is empty.
//!
//! Invariants: an instance that runs the desired template is never stopped to converge (a change
//! of `replicas` alone adds or removes instances and touches no other); instances of another
//! template are replaced slot by slot, never more than `max_surge` above `replicas` nor more
//! than `max_unavailable` below it; an old instance is stopped only once its slot has a new one
//! alive.

use std::collections::BTreeMap;

use super::spec::Rollout;

/// One instance as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Process id.
    pub pid: u32,
    /// Instance index (0-based).
    pub index: u32,
    /// Whether it runs the desired template.
    pub current: bool,
    /// Whether it is recorded at the desired generation.
    pub at_generation: bool,
    /// Whether the process is still alive (and still ours).
    pub alive: bool,
    /// Whether it passes the blueprint's health check (true without one) and is not a restart on
    /// trial in a crash loop.
    pub ready: bool,
}

/// What to do in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Dead instances to forget.
    pub forget: Vec<u32>,
    /// Current instances to record at the desired generation (nothing else changes).
    pub adopt: Vec<u32>,
    /// Live instances to stop: beyond `replicas`, duplicates, or replaced.
    pub stop: Vec<u32>,
    /// Slots to start a current instance in.
    pub start: Vec<u32>,
}

impl Plan {
    /// True when nothing needs doing.
    pub fn is_empty(&self) -> bool {
        self.forget.is_empty()
            && self.adopt.is_empty()
            && self.stop.is_empty()
            && self.start.is_empty()
    }
}

/// Plans one round towards `replicas` current instances.
pub fn plan(replicas: u32, rollout: Rollout, observed: &[Observed]) -> Plan {
    let mut p = Plan::default();
    let mut slots: BTreeMap<u32, Vec<&Observed>> = BTreeMap::new();
    for o in observed {
        if o.alive {
            slots.entry(o.index).or_default().push(o);
        } else {
            p.forget.push(o.pid);
        }
    }
    // Slots with only old instances, to replace within the rollout limits.
    let mut to_replace: Vec<(u32, Vec<u32>)> = Vec::new();
    for (&index, live) in &slots {
        let mut live = live.clone();
        live.sort_by_key(|o| (!o.current, o.pid));
        if index >= replicas {
            p.stop.extend(live.iter().map(|o| o.pid));
            continue;
        }
        match live.first() {
            Some(keep) if keep.current => {
                if !keep.at_generation {
                    p.adopt.push(keep.pid);
                }
                // Duplicates, and the old instance a new one now stands in for — only once the
                // new one is healthy: until then the old one keeps serving.
                if keep.ready {
                    p.stop.extend(live[1..].iter().map(|o| o.pid));
                }
            }
            Some(_) => to_replace.push((index, live.iter().map(|o| o.pid).collect())),
            None => {}
        }
    }
    let missing: Vec<u32> = (0..replicas).filter(|i| !slots.contains_key(i)).collect();
    // Empty slots are below `replicas` until their start: they use the unavailable budget.
    let mut unavailable_budget = rollout.max_unavailable.saturating_sub(missing.len() as u32);
    let mut surge_budget = rollout.max_surge;
    p.start.extend(missing);
    for (index, old) in to_replace {
        if surge_budget > 0 {
            // Start the new one beside the old; the old goes in the round after it is alive.
            surge_budget -= 1;
            p.start.push(index);
        } else if unavailable_budget > 0 {
            unavailable_budget -= 1;
            p.stop.extend(old);
            p.start.push(index);
        }
    }
    p.start.sort_unstable();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pid: u32, index: u32, current: bool, alive: bool) -> Observed {
        Observed {
            pid,
            index,
            current,
            at_generation: current,
            alive,
            ready: alive,
        }
    }

    #[test]
    fn an_old_instance_keeps_serving_until_its_replacement_is_healthy() {
        let unhealthy = Observed {
            ready: false,
            ..o(20, 0, true, true)
        };
        let p = plan(
            1,
            one_at_a_time(),
            &[o(10, 0, false, true), unhealthy.clone()],
        );
        assert!(p.stop.is_empty(), "the old one stays: {p:?}");
        assert!(p.start.is_empty(), "no second new one: {p:?}");
        let healthy = Observed {
            ready: true,
            ..unhealthy
        };
        let p = plan(1, one_at_a_time(), &[o(10, 0, false, true), healthy]);
        assert_eq!(p.stop, vec![10], "replaced once healthy");
    }

    fn one_at_a_time() -> Rollout {
        Rollout::default()
    }

    #[test]
    fn empty_starts_all() {
        let p = plan(2, one_at_a_time(), &[]);
        assert_eq!(p.start, vec![0, 1]);
        assert!(p.stop.is_empty() && p.forget.is_empty());
    }

    #[test]
    fn converged_is_a_no_op() {
        assert!(
            plan(
                2,
                one_at_a_time(),
                &[o(10, 0, true, true), o(11, 1, true, true)]
            )
            .is_empty()
        );
    }

    #[test]
    fn scaling_touches_no_running_instance() {
        let running = [o(10, 0, true, true), o(11, 1, true, true)];
        let up = plan(3, one_at_a_time(), &running);
        assert_eq!(
            up,
            Plan {
                start: vec![2],
                ..Plan::default()
            }
        );
        let down = plan(1, one_at_a_time(), &running);
        assert_eq!(
            down,
            Plan {
                stop: vec![11],
                ..Plan::default()
            }
        );
        // At a new generation, current instances are adopted, not restarted.
        let mut stale = running.clone();
        stale.iter_mut().for_each(|o| o.at_generation = false);
        let p = plan(3, one_at_a_time(), &stale);
        assert_eq!(
            p,
            Plan {
                adopt: vec![10, 11],
                start: vec![2],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_new_template_is_rolled_out_one_at_a_time_without_going_below_replicas() {
        let mut live: Vec<Observed> = (0..3).map(|i| o(10 + i, i, false, true)).collect();
        let mut next_pid = 100;
        let mut min_running = u32::MAX;
        let mut max_running = 0;
        for _round in 0..20 {
            let p = plan(3, one_at_a_time(), &live);
            if p.is_empty() {
                break;
            }
            // Apply in the driver's order: forget, stop, start.
            live.retain(|o| !p.stop.contains(&o.pid));
            min_running = min_running.min(live.len() as u32);
            for &index in &p.start {
                live.push(o(next_pid, index, true, true));
                next_pid += 1;
            }
            max_running = max_running.max(live.len() as u32);
        }
        assert!(
            plan(3, one_at_a_time(), &live).is_empty(),
            "converged: {live:?}"
        );
        assert!(live.iter().all(|o| o.current) && live.len() == 3);
        assert_eq!(min_running, 3, "never below replicas");
        assert_eq!(max_running, 4, "at most one above");
    }

    #[test]
    fn max_unavailable_replaces_in_place() {
        let live: Vec<Observed> = (0..3).map(|i| o(10 + i, i, false, true)).collect();
        let r = Rollout {
            max_surge: 0,
            max_unavailable: 2,
            min_ready_ms: 0,
        };
        let p = plan(3, r, &live);
        assert_eq!(p.stop, vec![10, 11]);
        assert_eq!(p.start, vec![0, 1]);
    }

    #[test]
    fn dead_are_forgotten_extra_and_duplicates_stopped() {
        let p = plan(
            2,
            one_at_a_time(),
            &[
                o(10, 0, true, false),
                o(11, 1, true, true),
                o(12, 2, true, true),
                o(13, 1, true, true),
            ],
        );
        assert_eq!(p.forget, vec![10]);
        assert_eq!(p.stop, vec![13, 12]);
        assert_eq!(p.start, vec![0]);
    }
}
