//! `maestroctl order list` against a real maestro on loopback holding more orders than one
//! reply may carry: the binary follows the pages and lists them all.

use maestro_proto::domain::v1 as dpb;
use maestro_proto::order::v1 as pb;
use maestro_testkit::{GUARD, within};
use tokio_util::sync::CancellationToken;

/// Characteristics `payload0`..`payload15` of [`spec`], and the bytes each carries.
const PAYLOADS: usize = 16;
const PAYLOAD_BYTES: usize = 60_000;

/// A spec whose long `payload<n>` characteristics no template renders.
fn spec() -> String {
    let payloads: String = (0..PAYLOADS)
        .map(|i| {
            format!(
                "  - {{ name: payload{i}, valueType: string, maxLength: {PAYLOAD_BYTES}, default: \"\" }}\n"
            )
        })
        .collect();
    SPEC.replace("PAYLOADS\n", &payloads)
}

const SPEC: &str = r#"id: demo-app
name: Demo app
version: "1.0"
characteristics:
PAYLOADS
blueprints:
  - kind: ProcessDeployment
    metadata: { name: "${service}" }
    spec: { command: "/bin/true", replicas: 1 }
"#;

/// A loopback port with nothing listening on it: deliveries to it are retried, never made.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn order(i: usize, payload: &str) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        idempotency_key: format!("k{i}"),
        order: Some(pb::OrderSpec {
            items: vec![pb::OrderItemSpec {
                rollout_json: String::new(),
                id: "1".into(),
                action: pb::ItemAction::Add as i32,
                service: Some(pb::Service {
                    name: format!("web{i}"),
                    service_specification: Some(pb::ServiceSpecRef {
                        id: "demo-app".into(),
                        ..Default::default()
                    }),
                    service_characteristic: (0..PAYLOADS)
                        .map(|p| pb::Characteristic {
                            name: format!("payload{p}"),
                            value: Some(prost_types::Value {
                                kind: Some(prost_types::value::Kind::StringValue(payload.into())),
                            }),
                            value_type: String::new(),
                        })
                        .collect(),
                }),
                placement: Some(pb::Placement {
                    domains: vec!["north".into()],
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn order_list_follows_pages_past_the_message_limit() {
    let (data, catalog) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(catalog.path().join("demo.yaml"), spec()).unwrap();
    let shutdown = CancellationToken::new();
    let config = maestro::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        metrics_listen: None,
        health_listen: None,
        catalog_dir: catalog.path().to_path_buf(),
        domain_unreachable_after_ms: 60_000,
        failover_after_ms: 300_000,
        fanout_backoff_min_ms: 20,
        fanout_backoff_max_ms: 200,
        tls: maestro_common::tls::TlsSettings::insecure(),
        operator_policy: None,
    };
    let running = maestro::run(config, shutdown.clone()).await.unwrap();
    let url = format!("http://{}", running.addr);
    let channel = maestro_common::grpc::channel(&url).unwrap();
    dpb::domain_registry_client::DomainRegistryClient::new(channel.clone())
        .register_domain(dpb::RegisterDomainRequest {
            id: "north".into(),
            endpoint: format!("http://127.0.0.1:{}", closed_port()),
            sites: vec!["n1".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Five orders of about 1 MiB each: more than one reply may carry (4 MiB).
    let mut orders = pb::order_service_client::OrderServiceClient::new(channel);
    // Five orders of about 1 MiB each: more than one reply may carry (4 MiB).
    let payload = "p".repeat(PAYLOAD_BYTES);
    for i in 0..5 {
        orders.create_order(order(i, &payload)).await.unwrap();
    }

    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_maestroctl"))
            .args(["--maestro", &url, "-o", "json", "order", "list"])
            .env_remove("MAESTROCTL_CONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<&str> = listed.iter().filter_map(|o| o["id"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every order once: {ids:?}");

    shutdown.cancel();
    within("maestro to stop", GUARD, running.task)
        .await
        .unwrap()
        .unwrap();
}
