//! Status that never lies, end to end: silence (a status stream down, a site cut off) holds
//! items pending with the reason and its age — never failed, never completed — and the order
//! converges from the real status once the domain or site is heard again. WatchOrder sends
//! every revision.

mod support;

use maestro_common::status::StatusReason;
use maestro_common::time::{millis, now_millis, timestamp};
use maestro_proto::intent::v1 as ipb;
use maestro_proto::order::v1 as pb;
use pb::{ItemAction, OrderState};
use std::time::Duration;
use support::*;

async fn create(m: &mut Maestro, items: Vec<pb::OrderItemSpec>) -> pb::ServiceOrder {
    m.orders
        .create_order(order("k", items))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
}

fn web(id: &str, service: &str, domain: &str) -> pb::OrderItemSpec {
    item(
        id,
        ItemAction::Add,
        service,
        &[domain],
        &[("message", text("hi"))],
    )
}

/// `ready`/`total` at generation 1 with one site per entry `(name, ready, unreachable)`.
fn status(
    domain: &str,
    intent_id: &str,
    state: ipb::ServiceState,
    sites: &[(&str, u32, bool)],
) -> ipb::IntentStatus {
    let now = now_millis();
    ipb::IntentStatus {
        intent_id: intent_id.into(),
        domain: domain.into(),
        generation: 1,
        observed_generation: 1,
        state: state as i32,
        ready: sites.iter().map(|s| s.1).sum(),
        total: sites.len() as u32,
        sites: sites
            .iter()
            .map(|(name, ready, unreachable)| ipb::SiteStatus {
                site: name.to_string(),
                ready: *ready,
                total: 1,
                observed_generation: 1,
                last_heard: Some(timestamp(if *unreachable { now - 40_000 } else { now })),
                unreachable: *unreachable,
                observed_at: Some(timestamp(now - 41_000)),
                reasons: if *unreachable {
                    vec![
                        StatusReason::Unreachable {
                            domain: domain.into(),
                            site: Some(name.to_string()),
                            last_heard_ms: Some(now - 40_000),
                        }
                        .into(),
                    ]
                } else {
                    vec![]
                },
                ..Default::default()
            })
            .collect(),
        updated_at: Some(timestamp(now)),
        ..Default::default()
    }
}

fn never_failed_or_completed(seen: &[pb::ServiceOrder]) {
    for o in seen {
        for s in [o.state].into_iter().chain(o.items.iter().map(|i| i.state)) {
            assert!(
                s != OrderState::Failed as i32 && s != OrderState::Completed as i32,
                "silence must not end anything: {o:#?}"
            );
        }
    }
}

#[tokio::test]
async fn a_domain_whose_status_stream_goes_down_holds_its_items_pending_until_it_is_back() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut cfg = config(data.path(), cat.path());
    cfg.domain_unreachable_after_ms = 500;
    let mut m = Maestro::start_with(cfg).await;
    let mut north = FakeDomain::start("north", false).await;
    let mut south = FakeDomain::start("south", false).await;
    m.register("north", north.addr, &["n1"], &[]).await;
    m.register("south", south.addr, &["s1"], &[]).await;
    // Both keep heartbeating throughout: only south's status stream goes away.
    let beats = heartbeat_every(&m, &["north", "south"], Duration::from_millis(50));
    let o = create(
        &mut m,
        vec![web("1", "web", "north"), web("2", "api", "south")],
    )
    .await;
    let (n, s) = (north.next_apply().await, south.next_apply().await);
    south.push_status(&s.id, 1, ipb::ServiceState::Reserved);
    m.watch_until(&o.id, |o| o.items[1].state == OrderState::InProgress as i32)
        .await;

    let port = south.go_dark().await;
    north.push_status(&n.id, 1, ipb::ServiceState::Active);
    let seen = m
        .watch_until(&o.id, |o| {
            o.items[0].state == OrderState::Completed as i32
                && matches!(reason(&o.items[1]), Some(StatusReason::Unreachable { .. }))
        })
        .await;
    let last = seen.last().unwrap();
    assert_eq!(last.items[1].state, OrderState::Pending as i32);
    let Some(StatusReason::Unreachable {
        domain,
        site,
        last_heard_ms,
    }) = reason(&last.items[1])
    else {
        panic!("unreachable expected: {:?}", last.items[1])
    };
    assert_eq!((domain.as_str(), site), ("south", None));
    assert!(
        last_heard_ms.is_some_and(|t| t <= now_millis()),
        "when it was last heard: {last_heard_ms:?}"
    );
    assert_eq!(
        last.items[1].reason, "domain south unreachable",
        "no age in text"
    );
    assert!(last.items[1].domains[0].unreachable);
    assert!(!last.items[0].domains[0].unreachable, "north proceeds");
    assert_eq!(state(last), OrderState::Pending);
    for o in &seen {
        assert_ne!(o.items[1].state, OrderState::Failed as i32, "{o:#?}");
    }

    // South comes back on the same address, now ACTIVE: the order completes from it.
    let south = FakeDomain::on("south", port, false).await;
    south.push_status(&s.id, 1, ipb::ServiceState::Active);
    let seen = m.watch_until(&o.id, |o| is_final(o.state)).await;
    let last = seen.last().unwrap();
    assert_eq!(state(last), OrderState::Completed);
    assert!(!last.items[1].domains[0].unreachable);
    assert_eq!(reason(&last.items[1]), None);
    assert_eq!(last.items[1].reason, "");
    beats.cancel();
    m.stop().await;
}

#[tokio::test]
async fn an_unreachable_site_holds_the_item_pending_never_failed_until_it_is_heard() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let mut north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1", "n2"], &[]).await;
    let o = create(&mut m, vec![web("1", "web", "north")]).await;
    let i = north.next_apply().await;

    // Every site's last report says ready, but n2 is cut off: not completed, not failed.
    north.push(status(
        "north",
        &i.id,
        ipb::ServiceState::Active,
        &[("n1", 1, false), ("n2", 1, true)],
    ));
    let seen = m
        .watch_until(&o.id, |o| {
            matches!(reason(&o.items[0]), Some(StatusReason::Unreachable { .. }))
        })
        .await;
    never_failed_or_completed(&seen);
    let last = seen.last().unwrap();
    assert_eq!(state(last), OrderState::Pending);
    let d = &last.items[0].domains[0];
    let n2 = d.sites.iter().find(|s| s.site == "n2").unwrap();
    assert_eq!(
        reason(&last.items[0]),
        Some(StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("n2".into()),
            last_heard_ms: Some(millis(n2.last_heard.as_ref())),
        }),
        "since the site's last record, as the domain reported it"
    );
    assert!(d.unreachable);
    assert!(n2.unreachable && n2.observed_at.is_some() && n2.last_heard.is_some());
    assert_eq!((n2.ready, n2.total), (1, 1), "last known counts");

    // Heard again: the real status completes it.
    north.push(status(
        "north",
        &i.id,
        ipb::ServiceState::Active,
        &[("n1", 1, false), ("n2", 1, false)],
    ));
    let seen = m.watch_until(&o.id, |o| is_final(o.state)).await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);
    m.stop().await;
}

#[tokio::test]
async fn watch_order_sends_every_revision_of_site_counts_and_reachability() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let mut north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1", "n2", "n3"], &[])
        .await;
    let o = create(&mut m, vec![web("1", "web", "north")]).await;
    let i = north.next_apply().await;
    m.watch_until(&o.id, |o| {
        o.items[0].domains[0].delivery == pb::DeliveryState::Acknowledged as i32
    })
    .await;

    let mut stream = m
        .orders
        .watch_order(pb::WatchOrderRequest { id: o.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap().order.unwrap();
    let steps: [&[(&str, u32, bool)]; 5] = [
        &[("n1", 1, false), ("n2", 0, false), ("n3", 0, false)],
        &[("n1", 1, false), ("n2", 1, false), ("n3", 0, false)],
        &[("n1", 1, false), ("n2", 1, false), ("n3", 0, true)],
        &[("n1", 1, false), ("n2", 1, false), ("n3", 0, false)],
        &[("n1", 1, false), ("n2", 1, false), ("n3", 1, false)],
    ];
    // Each step is pushed once the one before it was seen: statuses that arrive together may be
    // rolled up into one revision, but every revision is sent and each step shows.
    let mut seen = Vec::new();
    for (n, sites) in steps.iter().enumerate() {
        let last = n == steps.len() - 1;
        let state = if last {
            ipb::ServiceState::Active
        } else {
            ipb::ServiceState::Reserved
        };
        north.push(status("north", &i.id, state, sites));
        let ready: u32 = sites.iter().map(|(_, r, _)| r).sum();
        let cut = sites.iter().any(|(_, _, u)| *u);
        maestro_testkit::within("the step to show", WAIT, async {
            while let Some(ev) = stream.message().await.unwrap() {
                let o = ev.order.unwrap();
                let d = &o.items[0].domains[0];
                let shown = d.ready == ready && d.unreachable == cut;
                seen.push(o);
                if ev.r#final || (shown && !last) {
                    return;
                }
            }
        })
        .await
        .unwrap();
    }
    let revisions: Vec<u64> = seen.iter().map(|o| o.revision).collect();
    let expected: Vec<u64> =
        (first.revision + 1..=first.revision + revisions.len() as u64).collect();
    assert_eq!(revisions, expected, "no revision skipped");
    let ready: Vec<u32> = seen.iter().map(|o| o.items[0].domains[0].ready).collect();
    for want in [1, 2, 3] {
        assert!(ready.contains(&want), "ready {want} never sent: {ready:?}");
    }
    assert!(
        seen.iter().any(|o| o.items[0].domains[0].unreachable),
        "the unreachable flip was sent"
    );
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);
    m.stop().await;
}
