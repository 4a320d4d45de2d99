//! Order creation refuses characteristic values outside their spec's bounds with
//! INVALID_ARGUMENT naming the item, the characteristic and the reason, before anything is
//! stored or sent to a domain.

mod support;

use maestro_proto::order::v1 as pb;
use pb::ItemAction;
use support::*;
use tonic::Code;

#[tokio::test]
async fn values_a_site_would_refuse_are_refused_at_order_creation() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", true).await;
    m.register("north", north.addr, &["n1"], &[]).await;
    let field = "order.items[0].service.service_characteristic[1].value";
    let cases = [
        (
            ("replicas", number(-1.0)),
            format!("{field}: replicas: must be between 0 and 256, got -1"),
        ),
        (
            ("replicas", number(2_147_483_648.0)),
            format!("{field}: replicas: must be between 0 and 256, got 2147483648"),
        ),
        (
            ("replicas", number(1e9)),
            format!("{field}: replicas: must be between 0 and 256, got 1000000000"),
        ),
        (
            ("replicas", text("-1")),
            format!("{field}: replicas: must be between 0 and 256, got -1"),
        ),
        (
            ("message", text("a\0b")),
            format!("{field}: message: must not contain a NUL byte"),
        ),
        (
            ("message", text("one\ntwo")),
            format!("{field}: message: must be one line (the spec does not allow multiline)"),
        ),
        (
            ("message", text(&"x".repeat(1025))),
            format!("{field}: message: must be at most 1024 bytes, got 1025"),
        ),
    ];
    for (i, ((name, value), want)) in cases.into_iter().enumerate() {
        let it = item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("suffix", text("x")), (name, value)],
        );
        let e = m
            .orders
            .create_order(order(&format!("bad-{i}"), vec![it]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "case {i}: {e:?}");
        assert_eq!(e.message(), want, "case {i}");
    }
    // Shell metacharacters are text, not an error: the template keeps them literal.
    let ok = item(
        "1",
        ItemAction::Add,
        "web",
        &["north"],
        &[
            ("message", text("x; echo injected-by-$(id -un) > /tmp/f")),
            ("replicas", number(256.0)),
        ],
    );
    let created = m.orders.create_order(order("ok", vec![ok])).await.unwrap();
    assert!(created.into_inner().created);
}
