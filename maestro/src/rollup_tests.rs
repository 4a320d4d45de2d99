use super::*;
use crate::model::SiteProgress;

const NOW: i64 = 1_000_000;

fn dp(domain: &str, generation: u64, delivery: Delivery) -> DomainProgress {
    crate::fixtures::domain_progress(domain, generation, delivery)
}

fn item(id: &str, action: Action, domains: Vec<DomainProgress>) -> OrderItem {
    crate::fixtures::order_item(id, action, domains)
}

fn order(items: Vec<OrderItem>) -> Order {
    crate::fixtures::stored_order("o1", items, NOW - 10)
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
            reasons: if state == ServiceState::Inactive {
                vec![StatusReason::Failed {
                    domain: String::new(),
                    error: "boom".into(),
                }]
            } else {
                vec![]
            },
            updated_at_ms: NOW - 1,
            withheld: Vec::new(),
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
                    stream_down_since_ms: None,
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
    assert_eq!(
        r.items[0].status_reason,
        Some(StatusReason::WaitingForGeneration {
            domain: "north".into(),
            generation: 2
        })
    );
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
    assert_eq!(
        r.items[1].status_reason,
        Some(StatusReason::Failed {
            domain: "south".into(),
            error: "boom".into()
        })
    );
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
    assert_eq!(
        r.items[0].status_reason,
        Some(StatusReason::Rejected {
            domain: "north".into(),
            reason: String::new()
        })
    );
    assert_eq!(r.state, OrderState::Failed);
}

#[test]
fn unreachable_domain_is_pending_since_its_last_heartbeat_never_completed() {
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
        r.items[0].status_reason,
        Some(StatusReason::Unreachable {
            domain: "south".into(),
            site: None,
            last_heard_ms: Some(NOW - 42_000),
        })
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.text == "item 1 pending: domain south unreachable"),
        "notes hold no age: {:?}",
        r.notes
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
    assert_eq!(
        r.items[0].status_reason,
        Some(StatusReason::AwaitingDelivery {
            domain: "south".into(),
            attempts: 1,
            last_error: "connection refused".into(),
        })
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

fn site(name: &str, ready: u32, last_heard_ms: i64, unreachable: bool) -> SiteProgress {
    SiteProgress {
        site: name.into(),
        ready,
        total: 1,
        observed_generation: 1,
        reasons: vec![],
        last_heard_ms,
        unreachable,
        observed_at_ms: last_heard_ms - 5,
        desired_generation: 1,
    }
}

/// `domain`'s status at generation 1 in `state` with sites s1 (heard 40 s ago, `unreachable`)
/// and s2 (heard just now).
fn with_sites(domain: &str, state: ServiceState, unreachable: bool) -> (String, IntentStatus) {
    let (id, mut st) = status(domain, 1, state);
    st.sites = vec![
        site("s1", 1, NOW - 40_000, unreachable),
        site("s2", 1, NOW - 100, false),
    ];
    (id, st)
}

fn one_domain_each() -> Order {
    order(vec![
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
    ])
}

#[test]
fn an_unreachable_site_holds_an_active_item_pending_never_completed() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![dp("north", 1, Delivery::Acknowledged)],
    )]);
    let st = BTreeMap::from([with_sites("north", ServiceState::Active, true)]);
    let r = roll_up(&o, &st, &live(&["north"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Pending);
    assert_eq!(
        r.items[0].status_reason,
        Some(StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("s1".into()),
            last_heard_ms: Some(NOW - 40_000),
        })
    );
    assert_eq!(r.state, OrderState::Pending);
    assert_eq!(r.completion_date_ms, None);
    let d = &r.items[0].domains[0];
    assert!(d.unreachable);
    assert!(d.site_progress[0].unreachable && !d.site_progress[1].unreachable);
    assert_eq!(d.site_progress[0].observed_at_ms, NOW - 40_005);
    assert_eq!(
        (d.ready, d.total),
        (1, 1),
        "the last known counts are shown"
    );

    // Heard again: the real status decides.
    let st = BTreeMap::from([with_sites("north", ServiceState::Active, false)]);
    let back = roll_up(&r, &st, &live(&["north"]), NOW + 1_000);
    assert_eq!(back.items[0].state, OrderState::Completed);
    assert_eq!(back.state, OrderState::Completed);
    assert!(!back.items[0].domains[0].unreachable);
    assert!(back.revision > r.revision);
}

#[test]
fn an_unreachable_site_is_pending_not_failed_or_in_progress() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![dp("north", 1, Delivery::Acknowledged)],
    )]);
    let st = BTreeMap::from([with_sites("north", ServiceState::Reserved, true)]);
    let r = roll_up(&o, &st, &live(&["north"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Pending);
    let (id, mut never) = with_sites("north", ServiceState::Reserved, true);
    never.sites[0].last_heard_ms = 0;
    let r = roll_up(&o, &BTreeMap::from([(id, never)]), &live(&["north"]), NOW);
    assert_eq!(
        r.items[0].status_reason,
        Some(StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("s1".into()),
            last_heard_ms: None,
        })
    );
}

#[test]
fn a_status_stream_down_too_long_holds_only_that_domains_items_pending() {
    let o = one_domain_each();
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Active),
        status("south", 1, ServiceState::Active),
    ]);
    let mut domains = live(&["north", "south"]);
    domains.get_mut("south").unwrap().stream_down_since_ms = Some(NOW - 35_000);
    let r = roll_up(&o, &st, &domains, NOW);
    assert_eq!(r.items[0].state, OrderState::Completed, "north proceeds");
    assert_eq!(r.items[1].state, OrderState::Pending);
    let since_stream_loss = Some(StatusReason::Unreachable {
        domain: "south".into(),
        site: None,
        last_heard_ms: Some(NOW - 35_000),
    });
    assert_eq!(r.items[1].status_reason, since_stream_loss);
    assert!(r.items[1].domains[0].unreachable);
    assert!(!r.items[0].domains[0].unreachable);
    assert_eq!(r.state, OrderState::Pending);

    // Still silent later: time passing alone changes nothing (viewers compute the age).
    let later = roll_up(&r, &st, &domains, NOW + 10_000);
    assert_eq!(later.items[1].status_reason, since_stream_loss);
    assert_eq!(later, r, "no revision for the passing of time");

    // The stream is back: the order completes from the real status.
    let back = roll_up(&later, &st, &live(&["north", "south"]), NOW + 11_000);
    assert_eq!(back.items[1].state, OrderState::Completed);
    assert_eq!(back.state, OrderState::Completed);
    assert!(!back.items[1].domains[0].unreachable);
}

#[test]
fn a_stream_down_within_the_threshold_is_not_unreachable() {
    let o = one_domain_each();
    let st = BTreeMap::from([
        status("north", 1, ServiceState::Reserved),
        status("south", 1, ServiceState::Reserved),
    ]);
    let mut domains = live(&["north", "south"]);
    domains.get_mut("south").unwrap().stream_down_since_ms = Some(NOW - 29_000);
    let r = roll_up(&o, &st, &domains, NOW);
    assert_eq!(r.items[1].state, OrderState::InProgress);
    assert!(!r.items[1].domains[0].unreachable);
}

#[test]
fn final_orders_stay_final_when_a_domain_goes_silent() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![dp("north", 1, Delivery::Acknowledged)],
    )]);
    let st = BTreeMap::from([status("north", 1, ServiceState::Active)]);
    let done = roll_up(&o, &st, &live(&["north"]), NOW);
    assert_eq!(done.state, OrderState::Completed);
    let mut silent = live(&["north"]);
    silent.get_mut("north").unwrap().last_heartbeat_ms = NOW - 100_000;
    let unreachable_site = BTreeMap::from([with_sites("north", ServiceState::Active, true)]);
    assert_eq!(roll_up(&done, &unreachable_site, &silent, NOW + 1), done);
}

#[test]
fn a_site_unreachable_in_a_superseding_generation_does_not_hold_the_item() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![dp("north", 1, Delivery::Acknowledged)],
    )]);
    let (id, mut st) = with_sites("north", ServiceState::Reserved, true);
    st.generation = 2;
    let r = roll_up(&o, &BTreeMap::from([(id, st)]), &live(&["north"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Completed, "superseded");
}

#[test]
fn a_site_refusing_the_spec_fails_the_item_for_good_with_the_sites_reason() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![dp("north", 1, Delivery::Acknowledged)],
    )]);
    // What a domain reports when a site's reconciler refused the rendered blueprint.
    let refused = "site n1 refused blueprint svc-1: spec.replicas: at most 256";
    let (id, mut st) = status("north", 1, ServiceState::Inactive);
    st.reasons = vec![StatusReason::Failed {
        domain: String::new(),
        error: refused.into(),
    }];
    let r = roll_up(
        &o,
        &BTreeMap::from([(id.clone(), st)]),
        &live(&["north"]),
        NOW,
    );
    assert_eq!(r.items[0].state, OrderState::Failed);
    assert_eq!(
        r.items[0].status_reason,
        Some(StatusReason::Failed {
            domain: "north".into(),
            error: refused.into()
        })
    );
    assert_eq!(r.state, OrderState::Failed);
    // Final: a later status of the same generation changes nothing.
    let later = BTreeMap::from([status("north", 1, ServiceState::Reserved)]);
    assert_eq!(roll_up(&r, &later, &live(&["north"]), NOW + 1), r);
}

#[test]
fn an_order_too_large_for_one_reply_is_sent_without_its_per_site_progress() {
    use maestro_proto::order::v1 as pb;
    let sites = |n: usize| -> Vec<SiteProgress> {
        (0..n)
            .map(|s| SiteProgress {
                site: format!("a-site-with-a-rather-long-name-{s:04}"),
                ready: 1,
                total: 1,
                observed_generation: 1,
                reasons: vec![],
                last_heard_ms: NOW,
                unreachable: false,
                observed_at_ms: NOW,
                desired_generation: 1,
            })
            .collect()
    };
    let items: Vec<OrderItem> = (0..100)
        .map(|i| {
            let mut d = dp("north", 1, Delivery::Acknowledged);
            d.site_progress = sites(1024);
            item(&i.to_string(), Action::Add, vec![d])
        })
        .collect();
    let mut o = order(items);
    let big = pb::ServiceOrder::from(&o);
    assert!(big.site_detail_omitted);
    assert!(prost::Message::encoded_len(&big) <= crate::model::MAX_ORDER_REPLY_BYTES);
    assert!(big.items.iter().all(|i| i.domains[0].sites.is_empty()));
    assert_eq!(big.items.len(), 100, "items and domains are all there");
    o.items.truncate(1);
    let small = pb::ServiceOrder::from(&o);
    assert!(!small.site_detail_omitted);
    assert_eq!(small.items[0].domains[0].sites.len(), 1024);
}

#[test]
fn a_domain_that_refuses_leaves_the_others_to_finish_and_the_item_partial() {
    let o = order(vec![item(
        "1",
        Action::Add,
        vec![
            dp("north", 1, Delivery::Acknowledged),
            dp("south", 1, Delivery::Rejected),
        ],
    )]);
    let refused = Some(StatusReason::Rejected {
        domain: "south".into(),
        reason: String::new(),
    });
    // North still working: the item goes on, not failed.
    let working = BTreeMap::from([status("north", 1, ServiceState::Reserved)]);
    let r = roll_up(&o, &working, &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::InProgress);
    assert!(!r.state.is_final());
    // North done: partial, with south's refusal as the reason.
    let done = BTreeMap::from([status("north", 1, ServiceState::Active)]);
    let r = roll_up(&o, &done, &live(&["north", "south"]), NOW);
    assert_eq!(r.items[0].state, OrderState::Partial);
    assert_eq!(r.items[0].status_reason, refused);
    assert_eq!(r.state, OrderState::Partial);
}
