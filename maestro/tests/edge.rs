//! The gRPC edge of a real maestro on loopback: input that does not decode, values nested too
//! deep, control characters in free text and replies that must stay under the message limit.

mod support;

use maestro_proto::order::v1 as pb;
use maestro_testkit::raw_grpc;
use pb::ItemAction;
use support::*;
use tonic::Code;

const CREATE_ORDER: &str = "/maestro.order.v1.OrderService/CreateOrder";
const REGISTER_DOMAIN: &str = "/maestro.domain.v1.DomainRegistry/RegisterDomain";

/// A status the server answered to raw `message` on `path`.
async fn refusal(m: &Maestro, path: &str, message: Vec<u8>) -> tonic::Status {
    raw_grpc::unary(&m.url, path, message)
        .await
        .expect("connects")
        .expect_err("the server refuses the message")
}

#[tokio::test]
async fn a_request_that_does_not_decode_is_invalid_argument_naming_the_field() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let m = Maestro::start(data.path(), cat.path()).await;

    // Field 1 (idempotency_key) claims 5 bytes, 1 follows.
    let truncated = refusal(&m, CREATE_ORDER, vec![0x0a, 0x05, b'k']).await;
    assert_eq!(truncated.code(), Code::InvalidArgument, "{truncated:?}");
    assert!(
        truncated
            .message()
            .starts_with("malformed request: CreateOrderRequest.idempotency_key: "),
        "{}",
        truncated.message()
    );

    // Field 1 holds two bytes that are not UTF-8.
    let not_utf8 = refusal(&m, CREATE_ORDER, vec![0x0a, 0x02, 0xff, 0xfe]).await;
    assert_eq!(not_utf8.code(), Code::InvalidArgument, "{not_utf8:?}");
    assert!(
        not_utf8
            .message()
            .starts_with("malformed request: CreateOrderRequest.idempotency_key: ")
            && not_utf8.message().contains("UTF-8"),
        "{}",
        not_utf8.message()
    );

    // A body that ends inside its frame (the frame announces 10 bytes, 2 follow).
    let cut = raw_grpc::unframed(&m.url, CREATE_ORDER, vec![0, 0, 0, 0, 10, 0x0a, 0x01])
        .await
        .unwrap();
    assert_eq!(cut.code(), Code::InvalidArgument, "{cut:?}");
    assert!(
        cut.message().starts_with("malformed request: "),
        "{}",
        cut.message()
    );

    // No message at all.
    let empty = raw_grpc::unframed(&m.url, CREATE_ORDER, vec![])
        .await
        .unwrap();
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty:?}");
    assert_eq!(
        empty.message(),
        "malformed request: Missing request message."
    );

    // Another service of the same server: RegisterDomainRequest.endpoint (field 2).
    let domain = refusal(&m, REGISTER_DOMAIN, vec![0x12, 0x01, 0xc3]).await;
    assert_eq!(domain.code(), Code::InvalidArgument, "{domain:?}");
    assert!(
        domain.message().contains("RegisterDomainRequest.endpoint"),
        "{}",
        domain.message()
    );
    m.stop().await;
}

#[tokio::test]
async fn ids_are_checked_before_an_error_could_echo_them() {
    use maestro_proto::catalog::v1 as cpb;
    use maestro_proto::domain::v1 as dpb;
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(m.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let huge = format!("\u{1b}[2J{}", "x".repeat(1024 * 1024));
    let order = m
        .orders
        .get_order(pb::GetOrderRequest { id: huge.clone() })
        .await
        .unwrap_err();
    let spec = cpb::catalog_service_client::CatalogServiceClient::new(channel)
        .get_service_spec(cpb::GetServiceSpecRequest { id: huge.clone() })
        .await
        .unwrap_err();
    let heartbeat = m
        .domains
        .heartbeat(dpb::HeartbeatRequest {
            id: huge,
            capacity: None,
        })
        .await
        .unwrap_err();
    for e in [order, spec, heartbeat] {
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with("id: "), "{}", e.message());
        assert!(e.message().len() < 200, "{}", e.message());
    }
    m.stop().await;
}

/// A list nested `depth` levels deep around a number.
fn nested(depth: usize) -> prost_types::Value {
    let mut v = number(1.0);
    for _ in 1..depth {
        v = prost_types::Value {
            kind: Some(prost_types::value::Kind::ListValue(
                prost_types::ListValue { values: vec![v] },
            )),
        };
    }
    v
}

fn deep_order(key: &str, depth: usize) -> pb::CreateOrderRequest {
    order(
        key,
        vec![item(
            "1",
            ItemAction::Add,
            "web",
            &["north"],
            &[("message", text("hi")), ("deep", nested(depth))],
        )],
    )
}

#[tokio::test]
async fn a_characteristic_nested_too_deep_is_refused_naming_the_field_and_the_maximum() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[]).await;

    // Deeper than the decoder goes: refused while decoding.
    let e = m
        .orders
        .create_order(deep_order("k500", 500))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("service_characteristic.value")
            && e.message().contains("at most 32 levels"),
        "{}",
        e.message()
    );

    // Decodes, but deeper than a characteristic may nest: refused at the edge, by field.
    let e = m
        .orders
        .create_order(deep_order("k33", 33))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(
        e.message(),
        "order.items[0].service.service_characteristic[1].value: nested deeper than 32 levels"
    );
    m.stop().await;
}

fn web(key: &str, service: &str, message: &str) -> pb::CreateOrderRequest {
    order(
        key,
        vec![item(
            "1",
            ItemAction::Add,
            service,
            &["north"],
            &[("message", text(message))],
        )],
    )
}

#[tokio::test]
async fn control_characters_in_free_text_are_refused_naming_the_field() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_dir());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", true).await;
    m.register("north", north.addr, &["n1"], &[]).await;

    let mut escape = web("k-esc", "web", "hi");
    escape.order.as_mut().unwrap().description = "ok\n\u{1b}[2J\u{1b}]0;pwned\u{7}".into();
    let e = m.orders.create_order(escape).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().starts_with("order.description: ") && e.message().contains("U+001B"),
        "{}",
        e.message()
    );

    let mut lines = web("k-lines", "web", "hi");
    lines.order.as_mut().unwrap().description = "line one\n\tline two".into();
    let created = m.orders.create_order(lines).await.unwrap().into_inner();
    let id = created.order.unwrap().id;

    for (reason, why) in [
        ("\u{1b}[31mred".to_string(), "control character"),
        ("x".repeat(2 * 1024 * 1024), "longer than 1024 bytes"),
    ] {
        let e = m
            .orders
            .cancel_order(pb::CancelOrderRequest {
                id: id.clone(),
                reason,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().starts_with("reason: ") && e.message().contains(why),
            "{}",
            e.message()
        );
    }
    let stored = m
        .orders
        .get_order(pb::GetOrderRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(
        state(&stored),
        pb::OrderState::Cancelled,
        "nothing was cancelled"
    );
    assert_eq!(stored.description, "line one\n\tline two");
    m.stop().await;
}

/// Characteristics of [`catalog_with_payload`], and the bytes each of them may carry.
const PAYLOADS: usize = 16;
const PAYLOAD_BYTES: usize = 60_000;

/// The demo spec with `payload0`..`payload15`, long string characteristics no template renders.
fn catalog_with_payload() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let payloads: String = (0..PAYLOADS)
        .map(|i| {
            format!(
                "  - {{ name: payload{i}, valueType: string, maxLength: {PAYLOAD_BYTES}, default: \"\" }}\n"
            )
        })
        .collect();
    let spec = DEMO_SPEC.replace(
        "  - { name: suffix,",
        &format!("{payloads}  - {{ name: suffix,"),
    );
    assert_ne!(spec, DEMO_SPEC);
    std::fs::write(dir.path().join("demo.yaml"), spec).unwrap();
    dir
}

#[tokio::test]
async fn list_orders_pages_by_size_so_that_every_reply_decodes() {
    let (data, cat) = (tempfile::tempdir().unwrap(), catalog_with_payload());
    let mut m = Maestro::start(data.path(), cat.path()).await;
    let north = FakeDomain::start("north", false).await;
    m.register("north", north.addr, &["n1"], &[]).await;
    // Five orders of about 1 MiB each: more than one reply may carry (4 MiB).
    let big = "m".repeat(PAYLOAD_BYTES);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut request = web(&format!("k{i}"), &format!("web{i}"), "hi");
        let service = request.order.as_mut().unwrap().items[0].service.as_mut();
        let chars = &mut service.unwrap().service_characteristic;
        for p in 0..PAYLOADS {
            chars.push(pb::Characteristic {
                name: format!("payload{p}"),
                value: Some(text(&big)),
                value_type: String::new(),
            });
        }
        let created = m.orders.create_order(request).await.unwrap().into_inner();
        ids.push(created.order.unwrap().id);
    }
    ids.reverse(); // newest first

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = m
            .orders
            .list_orders(pb::ListOrdersRequest {
                page_size: 0,
                page_token: token.clone(),
                state: 0,
            })
            .await
            .expect("every page decodes")
            .into_inner();
        assert!(!page.orders.is_empty(), "no empty page while orders remain");
        seen.extend(page.orders.into_iter().map(|o| o.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids);
    m.stop().await;
}
