//! Done-when 5: bad input is rejected at the edge with the field and the reason, and changes
//! nothing.

use maestro_proto::order::v1::{ItemAction, ListOrdersRequest, OrderSpec};
use maestro_testkit::git::commit_messages;
use maestro_tests::api::MaestroApi;
use maestro_tests::scenario::catalog;
use maestro_tests::{nodes::ProcessFederation, orders};
use std::time::Duration;

async fn rejected(url: &MaestroApi, key: &str, spec: OrderSpec) -> tonic::Status {
    let mut client = orders::order_client(url).expect("client");
    match orders::create(&mut client, key, spec).await {
        Ok(o) => panic!("accepted bad order {o:#?}"),
        Err(e) => e.downcast::<tonic::Status>().unwrap_or_else(|e| {
            e.chain()
                .find_map(|c| c.downcast_ref::<tonic::Status>().cloned())
                .unwrap_or_else(|| panic!("{e:#}"))
        }),
    }
}

fn with_char(
    mut spec: OrderSpec,
    f: impl FnOnce(&mut maestro_proto::order::v1::Service),
) -> OrderSpec {
    f(spec.items[0].service.as_mut().expect("service"));
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_orders_are_rejected_with_field_and_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
    )?;
    orders::wait_domains_ready(&fed.api, &["north"], Duration::from_secs(60)).await?;
    let url = &fed.api;
    let good = || orders::demo_order(ItemAction::Add, "bad-input", "m", 1, &["north"]);

    let s = rejected(
        url,
        "k1",
        with_char(good(), |s| {
            s.service_specification.as_mut().unwrap().id = "nope".into()
        }),
    )
    .await;
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert!(
        s.message().contains("service_specification") && s.message().contains("nope"),
        "{}",
        s.message()
    );

    for bad in ["a/b", "..", "../etc"] {
        let s = rejected(url, "k2", with_char(good(), |s| s.name = bad.into())).await;
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{bad}: {s:?}");
        assert!(
            s.message().contains("service.name"),
            "{bad}: {}",
            s.message()
        );
    }

    let s = rejected(
        url,
        "k3",
        with_char(good(), |s| {
            s.service_characteristic.retain(|c| c.name != "message")
        }),
    )
    .await;
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert!(
        s.message().contains("message"),
        "names the missing characteristic: {}",
        s.message()
    );

    let s = rejected(
        url,
        "k4",
        with_char(good(), |s| s.name = "x".repeat(5 * 1024 * 1024)),
    )
    .await;
    assert!(
        matches!(
            s.code(),
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "oversized request: {s:?}"
    );

    let mut bad_domain = good();
    bad_domain.items[0].placement.as_mut().unwrap().domains = vec!["nowhere".into()];
    let s = rejected(url, "k5", bad_domain).await;
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("placement"), "{}", s.message());

    // Nothing changed: no order stored, nothing committed.
    let mut client = orders::order_client(url)?;
    let list = client
        .list_orders(ListOrdersRequest::default())
        .await?
        .into_inner();
    assert!(list.orders.is_empty(), "{:#?}", list.orders);
    let commits = commit_messages(&fed.domains[0].remote, "main")?;
    assert!(
        commits.iter().all(|m| !m.contains("bad-input")),
        "{commits:?}"
    );
    Ok(())
}
