//! Test fixtures shared by the unit tests: a one-spec catalog, registered domains and
//! requests. Built in memory; no files, no network.

use crate::catalog::{Catalog, ServiceSpec, SpecCharacteristic, ValueType};
use crate::registry::DomainRecord;
use crate::request::NewOrder;
use maestro_common::ResourceName;
use maestro_proto::order::v1 as pb;
use serde_json::json;

/// A catalog with spec `demo` (characteristics `replicas` = 1 and a required `message`).
pub fn catalog() -> Catalog {
    Catalog::from_specs([ServiceSpec {
        id: ResourceName::parse("id", "demo").unwrap(),
        name: "Demo".into(),
        version: "1.0".into(),
        description: String::new(),
        lifecycle_status: String::new(),
        characteristics: vec![
            SpecCharacteristic {
                name: "replicas".into(),
                value_type: ValueType::Integer,
                required: false,
                default: Some(json!(1)),
                description: String::new(),
            },
            SpecCharacteristic {
                name: "message".into(),
                value_type: ValueType::String,
                required: true,
                default: None,
                description: String::new(),
            },
        ],
        blueprints: vec![json!({
            "kind": "ProcessDeployment",
            "metadata": {"name": "${service}"},
            "spec": {"command": "/bin/sh", "replicas": "${replicas}"},
        })],
    }])
}

/// A registered domain `id` with `sites`.
pub fn domain(id: &str, sites: &[&str]) -> DomainRecord {
    DomainRecord {
        id: id.into(),
        endpoint: "http://127.0.0.1:1".into(),
        labels: [("tier".to_string(), "edge".to_string())].into(),
        region: String::new(),
        sites: sites.iter().map(ToString::to_string).collect(),
        registered_ms: 1,
        last_heartbeat_ms: 1,
    }
}

/// An item acting on `service` of spec `demo` in `domains`, with `message` = `hello`.
pub fn item(
    id: &str,
    action: pb::ItemAction,
    service: &str,
    domains: &[&str],
) -> pb::OrderItemSpec {
    pb::OrderItemSpec {
        id: id.into(),
        action: action as i32,
        service: Some(pb::Service {
            name: service.into(),
            service_specification: Some(pb::ServiceSpecRef {
                id: "demo".into(),
                ..Default::default()
            }),
            service_characteristic: vec![pb::Characteristic {
                name: "message".into(),
                value: Some(prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("hello".into())),
                }),
                ..Default::default()
            }],
        }),
        placement: Some(pb::Placement {
            domains: domains.iter().map(ToString::to_string).collect(),
            ..Default::default()
        }),
    }
}

/// A validated order with idempotency key `key`.
pub fn order(key: &str, items: Vec<pb::OrderItemSpec>) -> NewOrder {
    NewOrder::try_from(pb::CreateOrderRequest {
        idempotency_key: key.into(),
        order: Some(pb::OrderSpec {
            items,
            ..Default::default()
        }),
    })
    .unwrap()
}

/// An add of `service` in `domains`.
pub fn add(key: &str, service: &str, domains: &[&str]) -> NewOrder {
    order(key, vec![item("1", pb::ItemAction::Add, service, domains)])
}
