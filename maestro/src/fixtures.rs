//! Test fixtures shared by the unit tests: a one-spec catalog, registered domains and
//! requests, and a scripted fake domain client. Built in memory; no files, no network.

use crate::catalog::{Catalog, Constraints, ServiceSpec, SpecCharacteristic, ValueType};
use crate::delivery::{DeliveryError, DomainClient};
use crate::intent::{IntentPayload, OutboxEntry};
use crate::registry::DomainRecord;
use crate::request::NewOrder;
use futures::future::BoxFuture;
use maestro_common::ResourceName;
use maestro_proto::order::v1 as pb;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Mutex;

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
                constraints: Constraints::builtin(ValueType::Integer)
                    .for_replicas()
                    .unwrap(),
            },
            SpecCharacteristic {
                name: "message".into(),
                value_type: ValueType::String,
                required: true,
                default: None,
                description: String::new(),
                constraints: Constraints::builtin(ValueType::String),
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
        site_labels: Default::default(),
        registered_ms: 1,
        last_heartbeat_ms: 1,
        catalog: None,
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
        rollout_json: String::new(),
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

/// One call a [`FakeDomainClient`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCall {
    /// When (tokio time, so paused tests can measure backoff).
    pub at: tokio::time::Instant,
    /// The domain.
    pub domain: String,
    /// The intent delivered.
    pub intent: IntentPayload,
}

/// A [`DomainClient`] that answers from a script (then `otherwise`) and records every call.
#[derive(Debug)]
pub struct FakeDomainClient {
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    otherwise: Result<(), DeliveryError>,
    calls: Mutex<Vec<DeliveryCall>>,
}

impl FakeDomainClient {
    /// Answers `script` in order, then acknowledges everything.
    pub fn answering(script: impl IntoIterator<Item = Result<(), DeliveryError>>) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            otherwise: Ok(()),
            calls: Mutex::default(),
        }
    }

    /// Fails every call with `error` (the domain stays unreachable).
    pub fn unreachable(error: &str) -> Self {
        Self {
            otherwise: Err(DeliveryError::Unavailable(error.into())),
            ..Self::answering([])
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<DeliveryCall> {
        self.calls.lock().unwrap().clone()
    }
}

impl DomainClient for FakeDomainClient {
    fn deliver<'a>(
        &'a self,
        domain: &'a str,
        intent: &'a IntentPayload,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.calls.lock().unwrap().push(DeliveryCall {
            at: tokio::time::Instant::now(),
            domain: domain.into(),
            intent: intent.clone(),
        });
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.otherwise.clone());
        Box::pin(std::future::ready(answer))
    }
}

/// The outbox entry of an add of `service` in `domain`, from order `order_id`.
pub fn outbox_entry(order_id: &str, service: &str, domain: &str) -> OutboxEntry {
    OutboxEntry {
        order_id: order_id.into(),
        item_id: "1".into(),
        domain: domain.into(),
        intent: IntentPayload {
            id: maestro_common::ids::intent_id(service, domain),
            generation: 1,
            service_name: service.into(),
            order_id: order_id.into(),
            order_item_id: "1".into(),
            spec_id: "demo".into(),
            spec_version: "1.0".into(),
            sites: vec![],
            characteristics_json: "{}".into(),
            blueprint_templates_json: vec![],
            deleted: false,
            traceparent: String::new(),
            organisation: String::new(),
            rollout: None,
        },
    }
}

/// A stored order's progress on `domain` (intent `<domain>-intent`) at `generation`.
pub fn domain_progress(
    domain: &str,
    generation: u64,
    delivery: crate::model::Delivery,
) -> crate::model::DomainProgress {
    crate::model::DomainProgress {
        domain: domain.into(),
        intent_id: format!("{domain}-intent"),
        generation,
        sites: vec![],
        delivery,
        delivery_attempts: 1,
        service_state: crate::model::ServiceState::Unspecified,
        observed_generation: 0,
        ready: 0,
        total: 0,
        site_progress: vec![],
        message: String::new(),
        reasons: vec![],
        last_heard_ms: 0,
        unreachable: false,
        withheld: Vec::new(),
        leaving: false,
    }
}

/// A stored, acknowledged item `id` (service `svc-<id>` of spec `demo`) over `domains`.
pub fn order_item(
    id: &str,
    action: crate::model::Action,
    domains: Vec<crate::model::DomainProgress>,
) -> crate::model::OrderItem {
    crate::model::OrderItem {
        id: id.into(),
        action,
        state: crate::model::OrderState::Acknowledged,
        service: crate::model::ServiceRef {
            name: format!("svc-{id}"),
            spec_id: "demo".into(),
            spec_name: String::new(),
            spec_version: String::new(),
            characteristics: vec![],
        },
        placement: crate::model::Placement::default(),
        domains,
        rollout: None,
        before: Default::default(),
        status_reason: None,
    }
}

/// A stored, acknowledged order `id` (key `k`) of `items`, placed at `order_date_ms`.
pub fn stored_order(
    id: &str,
    items: Vec<crate::model::OrderItem>,
    order_date_ms: i64,
) -> crate::model::Order {
    crate::model::Order {
        id: id.into(),
        idempotency_key: "k".into(),
        external_id: String::new(),
        description: String::new(),
        category: String::new(),
        priority: 0,
        state: crate::model::OrderState::Acknowledged,
        order_date_ms,
        completion_date_ms: None,
        notes: vec![],
        items,
        revision: 1,
        traceparent: String::new(),
        ordered_by: Default::default(),
        rolled_at_ms: 0,
    }
}
