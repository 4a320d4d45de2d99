//! What time alone can change in the open orders, and so what a liveness tick re-rolls.
//!
//! A roll-up reads the clock in two places only: a domain counts as unreachable once it has not
//! been heard for its threshold, its reason saying when it was last heard ([`crate::rollup`]),
//! and a rollout's timers (bake time, silence; [`crate::rollout`]). Everything else an order
//! shows changes with an event that re-rolls the order already: a status, a delivery report, a
//! domain heard again, a command. So a tick re-rolls the open orders with an item on a domain
//! whose liveness changed since the last tick, and those with a rollout under way — not every
//! open order. (Orders stay open as long as a site is offline, for days if need be; a maestro
//! holding thousands of them read and rolled up each one every tick, a core's worth of work at
//! 18,000 open orders.)
//!
//! The open orders are known from what the engine commits ([`Ticks::note`]); those stored before
//! a start are re-rolled by the first tick, which re-rolls every open order of the store.

use crate::model::Order;
use crate::registry::DomainHealth;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How one domain stands for a roll-up at a time: `None` when reachable, else when it was last
/// heard (what its unreachable reason says).
pub(super) type Liveness = Option<i64>;

/// The liveness of every registered domain at `now_ms`.
pub(super) fn liveness_at(
    health: &BTreeMap<String, DomainHealth>,
    now_ms: i64,
) -> BTreeMap<String, Liveness> {
    health
        .iter()
        .map(|(id, h)| {
            let liveness = h.unreachable(now_ms).then(|| h.last_heard_ms(now_ms));
            (id.clone(), liveness)
        })
        .collect()
}

/// The open orders as the ticks see them, and the domains' liveness at the last tick.
#[derive(Debug, Default)]
pub(super) struct Ticks {
    open: HashMap<String, Concern>,
    /// `None` until a tick re-rolled every open order of the store.
    seen: Option<BTreeMap<String, Liveness>>,
}

/// What can change an open order with time.
#[derive(Debug)]
struct Concern {
    /// The domains of its items.
    domains: BTreeSet<String>,
    /// An item not final has a rollout under way (its timers run).
    timed: bool,
}

/// What a tick re-rolls.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// Every open order of the store: no tick has yet.
    All,
    /// These open orders (sorted).
    Orders(Vec<String>),
}

impl Ticks {
    /// `order` as just committed: tracked while open, forgotten once final.
    pub(super) fn note(&mut self, order: &Order) {
        if order.state.is_final() {
            self.open.remove(&order.id);
            return;
        }
        let domains = order.intent_ids().map(|(d, _)| d.to_string()).collect();
        let timed = order.items.iter().any(|i| {
            !i.state.is_final()
                && i.rollout
                    .as_ref()
                    .is_some_and(|r| !r.machine.phase.is_final())
        });
        self.open
            .insert(order.id.clone(), Concern { domains, timed });
    }

    /// What a tick that sees `now` re-rolls: the open orders with a rollout under way or an item
    /// on a domain whose liveness differs from the last tick's (a domain registered or gone
    /// counts as a difference).
    pub(super) fn due(&self, now: &BTreeMap<String, Liveness>) -> Due {
        let Some(seen) = &self.seen else {
            return Due::All;
        };
        let changed: BTreeSet<&str> = seen
            .keys()
            .chain(now.keys())
            .filter(|d| seen.get(*d) != now.get(*d))
            .map(String::as_str)
            .collect();
        let mut ids: Vec<String> = self
            .open
            .iter()
            .filter(|(_, c)| c.timed || c.domains.iter().any(|d| changed.contains(d.as_str())))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort_unstable();
        Due::Orders(ids)
    }

    /// The tick re-rolled what [`Self::due`] named for `now`: the next tick compares with it.
    pub(super) fn ticked(&mut self, now: BTreeMap<String, Liveness>) {
        self.seen = Some(now);
    }

    /// The open orders with an item on `domain` (sorted); `None` before the first tick
    /// re-rolled every open order (until then not every open order is known here).
    pub(super) fn on_domain(&self, domain: &str) -> Option<Vec<String>> {
        self.seen.as_ref()?;
        let mut ids: Vec<String> = self
            .open
            .iter()
            .filter(|(_, c)| c.domains.contains(domain))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort_unstable();
        Some(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Delivery, OrderState};
    use crate::rollout::ItemRollout;

    fn order(id: &str, domains: &[&str]) -> Order {
        use crate::fixtures::{domain_progress, order_item, stored_order};
        let domains = domains
            .iter()
            .map(|d| domain_progress(d, 1, Delivery::Acknowledged))
            .collect();
        let mut o = stored_order(id, vec![order_item("i1", Action::Add, domains)], 0);
        o.state = OrderState::InProgress;
        o
    }

    fn item_rollout() -> ItemRollout {
        use crate::rollout::fixtures::{rollout, sites, strategy};
        let strategy = strategy(&[1]);
        ItemRollout {
            machine: rollout(&strategy, &sites(1)),
            strategy,
            previous: None,
            intents: Vec::new(),
            step: 0,
            commands: Vec::new(),
            healthy_since: BTreeMap::new(),
            unheard_since: BTreeMap::new(),
        }
    }

    fn health(heard_ms: i64) -> DomainHealth {
        DomainHealth {
            last_heartbeat_ms: heard_ms,
            unreachable_after_ms: 1_000,
            stream_down_since_ms: None,
        }
    }

    fn seen(domains: &[(&str, Liveness)]) -> BTreeMap<String, Liveness> {
        domains.iter().map(|(d, l)| (d.to_string(), *l)).collect()
    }

    #[test]
    fn the_first_tick_re_rolls_every_open_order_then_only_what_time_changed() {
        let mut ticks = Ticks::default();
        ticks.note(&order("o-a", &["a"]));
        ticks.note(&order("o-b", &["b"]));
        ticks.note(&order("o-ab", &["a", "b"]));
        let all_up = seen(&[("a", None), ("b", None)]);
        assert_eq!(ticks.due(&all_up), Due::All);
        assert_eq!(
            ticks.on_domain("a"),
            None,
            "not every open order is known yet"
        );
        ticks.ticked(all_up.clone());

        assert_eq!(ticks.due(&all_up), Due::Orders(vec![]), "nothing changed");
        let a_down = seen(&[("a", Some(5)), ("b", None)]);
        assert_eq!(
            ticks.due(&a_down),
            Due::Orders(vec!["o-a".into(), "o-ab".into()])
        );
        ticks.ticked(a_down.clone());
        assert_eq!(ticks.due(&a_down), Due::Orders(vec![]));
        // Still unreachable, but last heard later (its reason changes): a change.
        let a_later = seen(&[("a", Some(7)), ("b", None)]);
        assert_eq!(
            ticks.due(&a_later),
            Due::Orders(vec!["o-a".into(), "o-ab".into()])
        );
        // A domain gone from the registry, or a new one: a change.
        assert_eq!(
            ticks.due(&seen(&[("a", Some(5))])),
            Due::Orders(vec!["o-ab".into(), "o-b".into()])
        );
        assert_eq!(
            ticks.due(&seen(&[("a", Some(5)), ("b", None), ("c", None)])),
            Due::Orders(vec![])
        );
        assert_eq!(
            ticks.on_domain("b"),
            Some(vec!["o-ab".into(), "o-b".into()])
        );
    }

    #[test]
    fn a_final_order_is_forgotten_and_a_rollout_under_way_is_due_every_tick() {
        let mut ticks = Ticks::default();
        let mut done = order("o-done", &["a"]);
        ticks.note(&done);
        done.state = OrderState::Completed;
        ticks.note(&done);
        let mut rolling = order("o-rolling", &["b"]);
        rolling.items[0].rollout = Some(item_rollout());
        ticks.note(&rolling);
        let up = seen(&[("a", None), ("b", None)]);
        ticks.ticked(up.clone());
        assert_eq!(ticks.due(&up), Due::Orders(vec!["o-rolling".into()]));
        assert_eq!(
            ticks.due(&seen(&[("a", Some(1)), ("b", None)])),
            Due::Orders(vec!["o-rolling".into()]),
            "the final order is not re-rolled when its domain goes"
        );
        // Its rollout over, the order waits on events only.
        rolling.items[0].rollout.as_mut().unwrap().machine.phase = crate::rollout::Phase::Completed;
        ticks.note(&rolling);
        assert_eq!(ticks.due(&up), Due::Orders(vec![]));
    }

    #[test]
    fn liveness_is_when_an_unreachable_domain_was_last_heard() {
        let health: BTreeMap<String, DomainHealth> = [
            ("fresh".to_string(), health(10_000)),
            ("stale".to_string(), health(2_000)),
        ]
        .into();
        let now = liveness_at(&health, 10_500);
        assert_eq!(now, seen(&[("fresh", None), ("stale", Some(2_000))]));
    }
}
