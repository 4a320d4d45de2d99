//! When an open order takes in newer times alone.
//!
//! Two kinds of time in an order change while nothing else about it does:
//!
//! - when its domains and sites were last heard: a domain refreshes the last-heard times its
//!   intent statuses carry while their sites only heartbeat (per intent, every half of the sites'
//!   unreachable threshold: 15 s by default), so that a reachable site's time stays recent;
//! - when its sites observed the status they last reported: a site reports a new status whenever
//!   anything in it changes, also what an order does not show (the instances it lists, as at each
//!   restart of a crash loop), and the domain's status then carries the new time.
//!
//! Rolled into its order at once, each would be a new revision of the whole order: an order open
//! on N domains would be written about 4·N times a minute for the refreshes alone, each write the
//! whole order, for as long as one of its sites is offline.
//!
//! So a roll-up whose only change is such times is taken in at most once per [`TIMES_EVERY_MS`]
//! per order, counted on maestro's clock from the order's last roll-up change
//! ([`crate::model::Order::rolled_at_ms`]); a roll-up with any other change takes the latest
//! times in with it, at once. What waits is not lost: the statuses are stored, and the next
//! roll-up reads them. An open order's times are therefore at most this much older than the
//! domains' own.

use crate::model::Order;

/// How often an open order takes in newer times when nothing else about it changed (ms).
pub const TIMES_EVERY_MS: i64 = 30_000;

/// Whether the roll-up `next` of `order` is to be dropped at `now_ms`: it changes nothing but
/// when the order's domains and sites were last heard and when its sites observed their
/// statuses, and the order changed less than [`TIMES_EVERY_MS`] ago. A clock that went back
/// makes the times due.
pub fn holds_back(order: &Order, next: &Order, now_ms: i64) -> bool {
    let since = now_ms.saturating_sub(order.rolled_at_ms);
    let due = !(0..TIMES_EVERY_MS).contains(&since);
    !due && next != order && only_times_differ(order, next)
}

/// Whether `next` is `order` but for its revision, when its domains and sites were last heard
/// and when its sites observed their statuses.
fn only_times_differ(order: &Order, next: &Order) -> bool {
    if next.items.len() != order.items.len() {
        return false;
    }
    let mut same = next.clone();
    same.revision = order.revision;
    same.rolled_at_ms = order.rolled_at_ms;
    for (item, was) in same.items.iter_mut().zip(&order.items) {
        if item.domains.len() != was.domains.len() {
            return false;
        }
        for (dp, was) in item.domains.iter_mut().zip(&was.domains) {
            dp.last_heard_ms = was.last_heard_ms;
            if dp.site_progress.len() != was.site_progress.len() {
                return false;
            }
            for (sp, was) in dp.site_progress.iter_mut().zip(&was.site_progress) {
                sp.last_heard_ms = was.last_heard_ms;
                sp.observed_at_ms = was.observed_at_ms;
            }
        }
    }
    same == *order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{domain_progress, order_item, stored_order};
    use crate::model::{Action, Delivery, OrderState, SiteProgress};

    const T: i64 = 1_700_000_000_000;

    /// An open order on north whose site n1 is ready and n2 is not, heard at `heard`; a roll-up
    /// last changed it at `taken`.
    fn open(heard: i64, taken: i64) -> Order {
        let site = |name: &str, ready| SiteProgress {
            site: name.into(),
            ready,
            total: 1,
            observed_generation: 1,
            last_heard_ms: heard,
            observed_at_ms: T - 60_000,
            ..Default::default()
        };
        let mut domain = domain_progress("north", 1, Delivery::Acknowledged);
        domain.site_progress = vec![site("n1", 1), site("n2", 0)];
        (domain.ready, domain.total, domain.last_heard_ms) = (1, 2, heard);
        let mut item = order_item("1", Action::Add, vec![domain]);
        item.state = OrderState::InProgress;
        let mut order = stored_order("o1", vec![item], T - 120_000);
        order.state = OrderState::InProgress;
        order.revision = 7;
        order.rolled_at_ms = taken;
        order
    }

    /// `order` rolled up with newer heard and observed times and a new revision.
    fn heard_again(order: &Order, heard: i64) -> Order {
        let mut next = order.clone();
        next.revision += 1;
        for dp in &mut next.items[0].domains {
            dp.last_heard_ms = heard;
            for sp in &mut dp.site_progress {
                (sp.last_heard_ms, sp.observed_at_ms) = (heard, heard);
            }
        }
        next
    }

    #[test]
    fn newer_times_alone_wait_until_the_order_changed_a_while_ago() {
        let order = open(T - 15_000, T - 10_000);
        let next = heard_again(&order, T);
        assert!(holds_back(&order, &next, T), "changed 10 s ago");
        assert!(
            holds_back(&order, &next, T + 19_999),
            "changed 29.999 s ago"
        );
        assert!(!holds_back(&order, &next, T + 20_000), "30 s ago: due");
        assert!(
            !holds_back(&order, &next, T - 10_001),
            "a clock that went back: due"
        );
        let never = open(T - 15_000, 0);
        assert!(
            !holds_back(&never, &heard_again(&never, T), T),
            "an order no roll-up changed yet"
        );
        assert!(
            !holds_back(&order, &order, T),
            "no change is nothing to hold back"
        );
    }

    #[test]
    fn any_other_change_is_taken_in_at_once_with_its_times() {
        let order = open(T - 15_000, T - 10_000);
        let changed = |change: &dyn Fn(&mut Order)| {
            let mut next = heard_again(&order, T);
            change(&mut next);
            holds_back(&order, &next, T)
        };
        assert!(!changed(
            &|o| o.items[0].domains[0].site_progress[1].ready = 1
        ));
        assert!(!changed(&|o| o.items[0].domains[0].ready = 2));
        assert!(!changed(
            &|o| o.items[0].domains[0].site_progress[1].unreachable = true
        ));
        assert!(!changed(&|o| o.items[0].domains[0].unreachable = true));
        assert!(!changed(&|o| o.items[0].domains[0]
            .site_progress
            .truncate(1)));
        assert!(!changed(&|o| o.items[0].state = OrderState::Completed));
        assert!(!changed(&|o| o.state = OrderState::Completed));
        assert!(!changed(&|o| o.note(T, "a note")));
        // One site heard again, or one site's newer status that the order does not show, is
        // still times alone.
        let mut one = order.clone();
        one.revision += 1;
        one.items[0].domains[0].site_progress[0].last_heard_ms = T;
        assert!(holds_back(&order, &one, T));
        one.items[0].domains[0].site_progress[1].observed_at_ms = T;
        assert!(holds_back(&order, &one, T));
    }
}
