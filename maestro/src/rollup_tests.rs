use super::*;
use crate::model::{Placement, ServiceRef};

const NOW: i64 = 1_000_000;

fn dp(domain: &str, generation: u64, delivery: Delivery) -> DomainProgress {
    DomainProgress {
        domain: domain.into(),
        intent_id: format!("{domain}-intent"),
        generation,
        sites: vec![],
        delivery,
        delivery_attempts: 1,
        service_state: ServiceState::Unspecified,
        observed_generation: 0,
        ready: 0,
        total: 0,
        site_progress: vec![],
        message: String::new(),
        last_heard_ms: 0,
    }
}

fn item(id: &str, action: Action, domains: Vec<DomainProgress>) -> OrderItem {
    OrderItem {
        id: id.into(),
        action,
        state: OrderState::Acknowledged,
        service: ServiceRef {
            name: format!("svc-{id}"),
            spec_id: "demo".into(),
            spec_name: String::new(),
            spec_version: String::new(),
            characteristics: vec![],
        },
        placement: Placement::default(),
        domains,
        reason: String::new(),
    }
}

fn order(items: Vec<OrderItem>) -> Order {
    Order {
        id: "o1".into(),
        idempotency_key: "k".into(),
        external_id: String::new(),
        description: String::new(),
        category: String::new(),
        priority: 0,
        state: OrderState::Acknowledged,
        order_date_ms: NOW - 10,
        completion_date_ms: None,
        notes: vec![],
        items,
        revision: 1,
        traceparent: String::new(),
    }
}

fn status(domain: &str, generation: u64, state: ServiceState) -> (String, IntentStatus) {
    (
        format!("{domain}-intent"),
        IntentStatus {
            intent_id: format!("{domain}-intent"),
            domain: domain.into(),
            generation,
            observed_generation: generation,
            state,
            ready: u32::from(state == ServiceState::Active),
            total: 1,
            sites: vec![],
            message: if state == ServiceState::Inactive {
                "boom".into()
            } else {
                String::new()
            },
            updated_at_ms: NOW - 1,
        },
    )
}

fn live(ids: &[&str]) -> BTreeMap<String, DomainHealth> {
    ids.iter()
        .map(|d| {
            (
                d.to_string(),
                DomainHealth {
                    last_heartbeat_ms: NOW - 1_000,
                    unreachable_after_ms: 30_000,
                },
            )
        })
        .collect()
}

fn two_domains() -> Order {
    order(vec![item(
        "1",
        Action::Add,
        vec![
            dp("north", 1, Delivery::Acknowledged),
            dp("south", 1, Delivery::Acknowledged),
        ],
    )])
}

#[test]
fn all_domains_active_at_generation_completes() {
    let o = two_domains();
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Active),
        status("south", 1, ServiceState::Active),
    ]);
    let r = roll_up(&o, &st, &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Completed);
    assert_eq!(r.state, OrderState::Completed);
    assert_eq!(r.completion_date_ms, Some(NOW));
    assert_eq!(r.revision, 2);
    assert_eq!(r.items[0].domains[0].service_state, ServiceState::Active);
    assert!(
        r.notes.iter().any(|n| n.text == "order completed"),
        "{:?}",
        r.notes
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.text.starts_with("item 1 completed"))
    );
}

#[test]
fn older_generation_is_still_in_progress() {
    let mut o = two_domains();
    o.items[0].domains.iter_mut().for_each(|d| d.generation = 2);
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Active),
        status("south", 2, ServiceState::Active),
    ]);
    let r = roll_up(&o, &st, &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::InProgress);
    assert_eq!(r.state, OrderState::InProgress);
    assert_eq!(
        r.items[0].domains[0].service_state,
        ServiceState::Unspecified
    );
    assert!(r.items[0].reason.contains("north"), "{}", r.items[0].reason);
    assert_eq!(r.completion_date_ms, None);
}

#[test]
fn inactive_fails_the_item_and_mixed_results_are_partial() {
    let o = order(vec![
        item(
            "1",
            Action::Add,
            vec![dp("north", 1, Delivery::Acknowledged)],
        ),
        item(
            "2",
            Action::Add,
            vec![dp("south", 1, Delivery::Acknowledged)],
        ),
    ]);
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Active),
        status("south", 1, ServiceState::Inactive),
    ]);
    let r = roll_up(&o, &st, &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Completed);
    assert_eq!(r.items[1].state, OrderState::Failed);
    assert!(r.items[1].reason.contains("boom"));
    assert_eq!(r.state, OrderState::Partial);
}

#[test]
fn all_items_failed_fails_the_order() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![dp("north", 1, Delivery::Rejected)],
    )]);
    let r = roll_up(&o, &BTreeMap::new(), &live(&["north"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Failed);
    assert!(r.items[0].reason.contains("rejected"));
    assert_eq!(r.state, OrderState::Failed);
}

#[test]
fn unreachable_domain_is_pending_with_age_never_completed() {
    let o = two_domains();
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Active),
        status("south", 1, ServiceState::Active),
    ]);
    let mut domains = live(&["north", "south"]);
    domains.get_mut("south").unwrap().last_heartbeat_ms = NOW - 42_000;
    let r = roll_up(&o, &st, &domains, NOW);
    assert_eq!(r.items[0].state, OrderState::Pending);
    assert_eq!(
        r.items[0].reason,
        "domain south unreachable (last heartbeat 42s ago)"
    );
    assert_eq!(r.state, OrderState::Pending);
}

#[test]
fn undelivered_is_pending_and_status_proves_delivery() {
    let mut o = two_domains();
    o.items[0].domains[1].delivery = Delivery::Pending;
    o.items[0].domains[1].message = "connection refused".into();
    let r = roll_up(&o, &BTreeMap::new(), &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Pending);
    assert!(
        r.items[0]
            .reason
            .contains("awaiting delivery to domain south"),
        "{}",
        r.items[0].reason
    );
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Reserved),
        status("south", 1, ServiceState::Reserved),
    ]);
    let r = roll_up(&o, &st, &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::InProgress);
}

#[test]
fn delete_completes_on_terminated_only() {
    let o = order(vec![item(
        "1",
        Action::Delete,
        vec![dp("north", 3, Delivery::Acknowledged)],
    )]);
    let active = BTreeMap::from([status("north", 3, ServiceState::Active)]);
    assert_eq!(
        roll_up(&o, &active, &live(&["north"]), NOW).items[0].state,
        OrderState::InProgress
    );
    let gone = BTreeMap::from([status("north", 3, ServiceState::Terminated)]);
    assert_eq!(
        roll_up(&o, &gone, &live(&["north"]), NOW).state,
        OrderState::Completed
    );
}

#[test]
fn no_change_keeps_revision_and_final_orders_stay_put() {
    let o = two_domains();
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Reserved),
        status("south", 1, ServiceState::Reserved),
    ]);
    let once = roll_up(&o, &st, &live(&["north", "south"]), NOW);
    let twice = roll_up(&once, &st, &live(&["north", "south"]), NOW + 5);
    assert_eq!(once, twice);
    let mut done = once.clone();
    done.state = OrderState::Cancelled;
    let active = BTreeMap::from([
        status("north", 1, ServiceState::Active),
        status("south", 1, ServiceState::Active),
    ]);
    assert_eq!(
        roll_up(&done, &active, &live(&["north", "south"]), NOW),
        done
    );
}
