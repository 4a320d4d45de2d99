//! End-to-end tests: a real maestro (sled in a tempdir, gRPC on loopback) against in-test
//! domain orchestrators.

mod support;

use maestro_common::ids::intent_id;
use maestro_common::status::StatusReason;
use maestro_proto::catalog::v1 as cpb;
use maestro_proto::domain::v1 as dpb;
use maestro_proto::intent::v1::ServiceState;
use maestro_proto::order::v1 as pb;
use maestro_testkit::within;
use pb::{ItemAction, OrderState};
use support::*;
use tonic::Code;

fn has_state(o: &pb::ServiceOrder, s: OrderState) -> bool {
    state(o) == s
}

#[tokio::test]
async fn create_fans_out_and_statuses_complete_the_order() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let mut north = FakeDomain::start("north", true).await;
    let mut south = FakeDomain::start("south", true).await;
    m.register("north", north.addr, &["n1", "n2"], &[]).await;
    m.register("south", south.addr, &["s1"], &[]).await;

    let req = order(
        "k1",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["north", "south"],
            &[("message", text("hi"))],
        )],
    );
    let created = m.orders.create_order(req).await.unwrap().into_inner();
    assert!(created.created);
    let o = created.order.unwrap();
    assert_eq!(state(&o), OrderState::Acknowledged);
    assert_eq!(o.note[0].text, "acknowledged");

    // The domains hold their applies until the watch has shown the acknowledged order.
    let mut stream = m
        .orders
        .watch_order(pb::WatchOrderRequest { id: o.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(
        state(first.order.as_ref().unwrap()),
        OrderState::Acknowledged
    );
    assert!(!first.r#final);
    north.open_gate();
    south.open_gate();

    let (n, s) = (north.next_apply().await, south.next_apply().await);
    assert_eq!(n.id, intent_id("web", "north"));
    assert_eq!(s.id, intent_id("web", "south"));
    assert_eq!((n.generation, s.generation), (1, 1));
    assert_eq!(
        (n.order_id.as_str(), n.order_item_id.as_str(), n.deleted),
        (o.id.as_str(), "1", false)
    );
    let chars: serde_json::Value = serde_json::from_str(&n.characteristics_json).unwrap();
    assert_eq!(
        chars,
        serde_json::json!({"replicas": 1, "message": "hi", "suffix": "x"})
    );
    assert_eq!(n.blueprint_templates_json.len(), 1);
    assert!(n.traceparent.starts_with("00-"));

    let mut seen = vec![first.order.unwrap()];
    let in_progress = within("the order to go in progress once delivered", WAIT, async {
        loop {
            let ev = stream.message().await.unwrap().unwrap();
            let o = ev.order.unwrap();
            seen.push(o.clone());
            if has_state(&o, OrderState::InProgress) {
                return o;
            }
        }
    })
    .await
    .unwrap();
    assert!(
        in_progress.items[0]
            .domains
            .iter()
            .all(|d| d.delivery == pb::DeliveryState::Acknowledged as i32)
    );
    north.push_status(&n.id, 1, ServiceState::Active);
    south.push_status(&s.id, 1, ServiceState::Active);
    let last = within("the order to complete", WAIT, async {
        loop {
            let ev = stream.message().await.unwrap().unwrap();
            let o = ev.order.unwrap();
            seen.push(o.clone());
            if ev.r#final {
                return o;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(state(&last), OrderState::Completed);
    assert!(last.completion_date.is_some());
    assert_eq!(last.items[0].state, OrderState::Completed as i32);
    assert!(
        last.items[0]
            .domains
            .iter()
            .all(|d| d.service_state == pb::ServiceState::Active as i32)
    );
    assert!(last.note.iter().any(|n| n.text == "order completed"));
    assert!(
        seen.windows(2).all(|w| w[0].revision < w[1].revision),
        "revisions increase"
    );
    assert!(
        stream.message().await.unwrap().is_none(),
        "stream ends after the final event"
    );

    let domains = m
        .domains
        .list_domains(dpb::ListDomainsRequest {})
        .await
        .unwrap()
        .into_inner()
        .domains;
    assert_eq!(domains.len(), 2);
    assert!(
        domains
            .iter()
            .all(|d| d.state == dpb::DomainState::Ready as i32)
    );

    let logs = m.orders.stream_order_logs(pb::StreamOrderLogsRequest {
        id: o.id.clone(),
        follow: false,
    });
    let mut logs = logs.await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(r) = logs.message().await.unwrap() {
        got.push((r.domain, r.message));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("north".to_string(), format!("hello from {}", n.id)),
            ("south".to_string(), format!("hello from {}", s.id))
        ]
    );
    m.stop().await;
}

#[tokio::test]
async fn idempotent_create_then_modify_bumps_generation_and_delete_sends_delete() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let mut north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[("tier", "edge")])
        .await;
    let add = || {
        order(
            "same-key",
            vec![item(
                "1",
                ItemAction::Add,
                "web",
                &["north"],
                &[("message", text("v1"))],
            )],
        )
    };
    let first = m.orders.create_order(add()).await.unwrap().into_inner();
    let applied = north.next_apply().await;
    assert_eq!(applied.generation, 1);
    let again = m.orders.create_order(add()).await.unwrap().into_inner();
    assert!(!again.created);
    assert_eq!(again.order.unwrap().id, first.order.as_ref().unwrap().id);
    let listed = m
        .orders
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.orders.len(), 1);

    // Adding the existing service again under a new key is refused.
    let dup = order(
        "k-dup",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("message", text("v1"))],
        )],
    );
    assert_eq!(
        m.orders.create_order(dup).await.unwrap_err().code(),
        Code::AlreadyExists
    );

    // Modify (placement inherited, selector-free) bumps the generation; the next apply the
    // domain sees is generation 2, so no second apply of generation 1 happened.
    let mut modify = item(
        "1",
        ItemAction::Modify,
        "web",
        &[],
        &[("replicas", number(3.0))],
    );
    modify.placement = None;
    let modified = m
        .orders
        .create_order(order("k-mod", vec![modify]))
        .await
        .unwrap()
        .into_inner();
    let applied = north.next_apply().await;
    assert_eq!(applied.generation, 2);
    assert_eq!(applied.id, intent_id("web", "north"));
    let chars: serde_json::Value = serde_json::from_str(&applied.characteristics_json).unwrap();
    assert_eq!(chars["replicas"], 3);
    assert_eq!(
        chars["message"], "v1",
        "unchanged characteristics are kept on modify"
    );
    let mod_id = modified.order.unwrap().id;
    north.push_status(&applied.id, 2, ServiceState::Active);
    let seen = m.watch_until(&mod_id, |o| is_final(o.state)).await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);

    // Delete sends DeleteIntent at generation 3 and completes on TERMINATED.
    let del = item("1", ItemAction::Delete, "web", &[], &[]);
    let deleted = m
        .orders
        .create_order(order("k-del", vec![del]))
        .await
        .unwrap()
        .into_inner();
    match north.next().await {
        Received::Delete(d) => {
            assert_eq!(d.id, intent_id("web", "north"));
            assert_eq!(d.generation, 3);
        }
        other => panic!("expected a delete, got {other:?}"),
    }
    north.push_status(&intent_id("web", "north"), 3, ServiceState::Terminated);
    let del_id = deleted.order.unwrap().id;
    let seen = m.watch_until(&del_id, |o| is_final(o.state)).await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);

    // A modify of a deleted service is a failed precondition.
    let mut modify = item("1", ItemAction::Modify, "web", &[], &[]);
    modify.placement = None;
    let e = m
        .orders
        .create_order(order("k-mod2", vec![modify]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // Newest first, paged.
    let page = m
        .orders
        .list_orders(pb::ListOrdersRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        page.orders
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>(),
        vec![del_id.as_str(), mod_id.as_str()]
    );
    let rest = pb::ListOrdersRequest {
        page_size: 2,
        page_token: page.next_page_token,
        ..Default::default()
    };
    let rest = m.orders.list_orders(rest).await.unwrap().into_inner();
    assert_eq!(rest.orders.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let completed = pb::ListOrdersRequest {
        state: OrderState::Completed as i32,
        ..Default::default()
    };
    let completed = m
        .orders
        .list_orders(completed)
        .await
        .unwrap()
        .into_inner()
        .orders;
    // The add completes too: its generation was superseded by the modify the domain reached.
    assert_eq!(completed.len(), 3);
    let add = completed
        .iter()
        .find(|o| o.idempotency_key == "same-key")
        .unwrap();
    assert_eq!(
        domain_reasons(&add.items[0].domains[0]),
        vec![StatusReason::Superseded { generation: 2 }]
    );
    m.stop().await;
}

#[tokio::test]
async fn a_domain_down_at_creation_receives_the_intent_once_it_starts() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let port = free_port();
    m.register("south", port, &["s1"], &[]).await;
    let req = order(
        "k",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["south"],
            &[("message", text("hi"))],
        )],
    );
    let id = m
        .orders
        .create_order(req)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    let seen = m
        .watch_until(&id, |o| o.items[0].domains[0].delivery_attempts >= 2)
        .await;
    let pending = seen.last().unwrap();
    assert_eq!(state(pending), OrderState::Pending);
    let Some(StatusReason::AwaitingDelivery {
        domain, attempts, ..
    }) = reason(&pending.items[0])
    else {
        panic!("awaiting delivery expected: {:?}", pending.items[0])
    };
    assert_eq!(domain, "south");
    assert!(attempts >= 2, "{attempts}");

    let mut south = FakeDomain::on("south", port, false).await;
    let intent = south.next_apply().await;
    assert_eq!(intent.id, intent_id("web", "south"));
    let seen = m
        .watch_until(&id, |o| has_state(o, OrderState::InProgress))
        .await;
    assert_eq!(
        seen.last().unwrap().items[0].domains[0].delivery,
        pb::DeliveryState::Acknowledged as i32
    );
    m.stop().await;
}

#[tokio::test]
async fn restart_delivers_an_unacknowledged_outbox_entry_exactly_once() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let port = free_port();
    let mut m = Maestro::start(data.path(), cat.path()).await;
    m.register("south", port, &["s1"], &[]).await;
    let req = order(
        "k",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["south"],
            &[("message", text("hi"))],
        )],
    );
    let id = m
        .orders
        .create_order(req)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    m.watch_until(&id, |o| o.items[0].domains[0].delivery_attempts >= 1)
        .await;
    m.stop().await;

    let mut south = FakeDomain::on("south", port, false).await;
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let intent = south.next_apply().await;
    assert_eq!(
        (intent.id.as_str(), intent.generation),
        (intent_id("web", "south").as_str(), 1)
    );
    let seen = m
        .watch_until(&id, |o| {
            o.items[0].domains[0].delivery == pb::DeliveryState::Acknowledged as i32
        })
        .await;
    assert!(seen.last().unwrap().items[0].domains[0].delivery_attempts >= 2);
    assert!(south.received.try_recv().is_err(), "delivered exactly once");

    // A second restart finds nothing left to deliver: the next thing the domain sees is the
    // status-driven completion, not another apply.
    m.stop().await;
    let mut m = Maestro::start(data.path(), cat.path()).await;
    south.push_status(&intent.id, 1, ServiceState::Active);
    let seen = m.watch_until(&id, |o| is_final(o.state)).await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);
    assert!(
        south.received.try_recv().is_err(),
        "no apply after the second restart"
    );
    m.stop().await;
}

#[tokio::test]
async fn bad_input_is_rejected_naming_the_field_and_nothing_is_stored() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[("tier", "edge")])
        .await;
    let ok = || {
        item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("message", text("hi"))],
        )
    };
    let mut unknown_spec = ok();
    unknown_spec
        .service
        .as_mut()
        .unwrap()
        .service_specification
        .as_mut()
        .unwrap()
        .id = "nope".into();
    let mut bad_selector = ok();
    bad_selector.placement = Some(pb::Placement {
        domain_selector: [("tier".to_string(), "core".to_string())].into(),
        ..Default::default()
    });
    let mut bad_site = ok();
    bad_site.placement.as_mut().unwrap().sites = vec!["s9".into()];
    let cases: Vec<(pb::OrderItemSpec, &str)> = vec![
        (
            unknown_spec,
            "order.items[0].service.service_specification.id: unknown service specification 'nope'",
        ),
        (
            item(
                "1",
                ItemAction::Add,
                "a/b",
                &["north"],
                &[("message", text("hi"))],
            ),
            "order.items[0].service.name",
        ),
        (
            item(
                "1",
                ItemAction::Add,
                "..",
                &["north"],
                &[("message", text("hi"))],
            ),
            "order.items[0].service.name",
        ),
        (
            item("1", ItemAction::Add, "web", &["north"], &[]),
            "missing required characteristic 'message'",
        ),
        (
            item(
                "1",
                ItemAction::Add,
                "web",
                &["north"],
                &[("message", text("hi")), ("replicas", text("many"))],
            ),
            "order.items[0].service.service_characteristic[1].value",
        ),
        (
            item(
                "1",
                ItemAction::Add,
                "web",
                &["north"],
                &[("message", text("hi")), ("colour", text("red"))],
            ),
            "unknown characteristic 'colour'",
        ),
        (
            item(
                "1",
                ItemAction::Add,
                "web",
                &["north"],
                &[("message", text("hi")), ("suffix", text("a/b"))],
            ),
            "metadata.name",
        ),
        (
            item(
                "1",
                ItemAction::Add,
                "web",
                &["west"],
                &[("message", text("hi"))],
            ),
            "order.items[0].placement.domains[0]",
        ),
        (bad_selector, "order.items[0].placement.domain_selector"),
        (bad_site, "order.items[0].placement.sites[0]"),
    ];
    for (i, (it, want)) in cases.into_iter().enumerate() {
        let e = m
            .orders
            .create_order(order(&format!("bad-{i}"), vec![it]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "case {i}: {e:?}");
        assert!(
            e.message().contains(want),
            "case {i}: {:?} lacks {want:?}",
            e.message()
        );
    }
    let e = m
        .orders
        .create_order(order("", vec![ok()]))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("idempotency_key"),
        "{e:?}"
    );

    let huge = "x".repeat(5 * 1024 * 1024);
    let big = order(
        "big",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("message", text(&huge))],
        )],
    );
    let e = m.orders.create_order(big).await.unwrap_err();
    assert!(
        matches!(
            e.code(),
            Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument
        ),
        "{e:?}"
    );

    let listed = m
        .orders
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.orders.is_empty(), "nothing stored: {listed:?}");
    // The inventory was not touched either: the service can still be added at generation 1.
    let mut north = north;
    let made = m
        .orders
        .create_order(order("good", vec![ok()]))
        .await
        .unwrap()
        .into_inner();
    assert!(made.created);
    assert_eq!(north.next_apply().await.generation, 1);
    m.stop().await;
}

#[tokio::test]
async fn rejected_intent_fails_the_item_and_cancel_is_refused_when_final() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[]).await;
    let req = order(
        "k",
        vec![item(
            "1",
            ItemAction::Add,
            "reject-me",
            &["north"],
            &[("message", text("hi"))],
        )],
    );
    let id = m
        .orders
        .create_order(req)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    let seen = m.watch_until(&id, |o| is_final(o.state)).await;
    let last = seen.last().unwrap();
    assert_eq!(state(last), OrderState::Failed);
    assert_eq!(
        last.items[0].domains[0].delivery,
        pb::DeliveryState::Rejected as i32
    );
    let Some(StatusReason::Rejected {
        domain,
        reason: why,
    }) = reason(&last.items[0])
    else {
        panic!("rejected expected: {:?}", last.items[0])
    };
    assert_eq!(domain, "north");
    assert!(why.contains("no such kind"), "{why}");
    let e = m
        .orders
        .cancel_order(pb::CancelOrderRequest {
            id,
            reason: "late".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    m.stop().await;
}

#[tokio::test]
async fn cancel_marks_the_order_cancelled_with_a_note() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", true).await;
    m.register("north", north.addr, &["n1"], &[]).await;
    let req = order(
        "k",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("message", text("hi"))],
        )],
    );
    let id = m
        .orders
        .create_order(req)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    let cancel = pb::CancelOrderRequest {
        id: id.clone(),
        reason: "changed my mind".into(),
    };
    let o = m.orders.cancel_order(cancel).await.unwrap().into_inner();
    assert_eq!(state(&o), OrderState::Cancelled);
    assert!(
        o.note
            .iter()
            .any(|n| n.text == "cancelled: changed my mind")
    );
    let seen = m.watch_until(&id, |o| is_final(o.state)).await;
    assert_eq!(seen.len(), 1);
    let e = m
        .orders
        .get_order(pb::GetOrderRequest {
            id: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    m.stop().await;
}

#[tokio::test]
async fn registry_validates_and_heartbeat_needs_registration() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let bad = dpb::RegisterDomainRequest {
        id: "north".into(),
        endpoint: "ftp://x".into(),
        ..Default::default()
    };
    let e = m.domains.register_domain(bad).await.unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("endpoint"),
        "{e:?}"
    );
    let e = m
        .domains
        .heartbeat(dpb::HeartbeatRequest {
            id: "ghost".into(),
            capacity: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let ch = tonic::transport::Endpoint::from_shared(m.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut catalog = cpb::catalog_service_client::CatalogServiceClient::new(ch);
    let specs = catalog
        .list_service_specs(cpb::ListServiceSpecsRequest {})
        .await
        .unwrap()
        .into_inner()
        .specs;
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].characteristics[0].default_json, "1");
    let e = catalog
        .get_service_spec(cpb::GetServiceSpecRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    m.stop().await;
}

#[tokio::test]
async fn a_bad_catalog_file_fails_run_naming_the_file() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    std::fs::write(
        cat.path().join("broken.json"),
        r#"{"id":"x","characteristics":[{"name":"n","valueType":"float"}]}"#,
    )
    .unwrap();
    let e = maestro::run(config(data.path(), cat.path()), Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("broken.json") && e.contains("characteristics[0].valueType"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unreachable_domain_keeps_the_item_pending_with_its_age_until_it_heartbeats() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut cfg = config(data.path(), cat.path());
    cfg.domain_unreachable_after_ms = 300;
    let mut m = Maestro::start_with(cfg).await;
    let mut south = FakeDomain::start("south", false).await;
    m.register("south", south.addr, &["s1"], &[]).await;
    let req = order(
        "k",
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["south"],
            &[("message", text("hi"))],
        )],
    );
    let id = m
        .orders
        .create_order(req)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .id;
    let intent = south.next_apply().await;
    // No heartbeats: the liveness ticker turns the item pending with the age, never failed.
    let seen = m
        .watch_until(&id, |o| {
            matches!(reason(&o.items[0]), Some(StatusReason::Unreachable { .. }))
        })
        .await;
    let last = seen.last().unwrap();
    assert_eq!(state(last), OrderState::Pending);
    let Some(StatusReason::Unreachable { domain, site, .. }) = reason(&last.items[0]) else {
        panic!("unreachable expected: {:?}", last.items[0])
    };
    assert_eq!((domain.as_str(), site), ("south", None));
    let domains = m
        .domains
        .list_domains(dpb::ListDomainsRequest {})
        .await
        .unwrap()
        .into_inner()
        .domains;
    assert_eq!(domains[0].state, dpb::DomainState::Unreachable as i32);

    // An ACTIVE status from an unreachable domain does not complete the item.
    south.push_status(&intent.id, 1, ServiceState::Active);
    let seen = m
        .watch_until(&id, |o| {
            o.items[0].domains[0].service_state == pb::ServiceState::Active as i32
        })
        .await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Pending);

    // A heartbeat brings it back; the next roll-up completes the order.
    m.domains
        .heartbeat(dpb::HeartbeatRequest {
            id: "south".into(),
            capacity: None,
        })
        .await
        .unwrap();
    let seen = m.watch_until(&id, |o| is_final(o.state)).await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);
    m.stop().await;
}

#[tokio::test]
async fn a_delete_the_domain_does_not_know_is_delivered_as_a_deleted_intent() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let mut north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[("tier", "edge")])
        .await;
    let add = item(
        "1",
        ItemAction::Add,
        "forgotten-web",
        &["north"],
        &[("message", text("v1"))],
    );
    m.orders
        .create_order(order("k-add", vec![add]))
        .await
        .unwrap();
    let applied = north.next_apply().await;
    assert_eq!(applied.generation, 1);

    // The domain answers NotFound to DeleteIntent; maestro applies the tombstone instead.
    let del = item("1", ItemAction::Delete, "forgotten-web", &[], &[]);
    let deleted = m
        .orders
        .create_order(order("k-del", vec![del]))
        .await
        .unwrap()
        .into_inner();
    let tombstone = north.next_apply().await;
    assert_eq!(tombstone.id, intent_id("forgotten-web", "north"));
    assert_eq!(tombstone.generation, 2);
    assert!(tombstone.deleted, "{tombstone:?}");
    assert_eq!(tombstone.service_name, "forgotten-web");
    north.push_status(&tombstone.id, 2, ServiceState::Terminated);
    let del_id = deleted.order.unwrap().id;
    let seen = m.watch_until(&del_id, |o| is_final(o.state)).await;
    assert_eq!(state(seen.last().unwrap()), OrderState::Completed);
}
