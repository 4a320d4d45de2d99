//! Property tests of the gRPC edge of maestro: `CreateOrderRequest` -> `NewOrder`
//! (`maestro::request`) with arbitrary requests built field by field (hostile strings, huge
//! strings, control characters, deep `prost_types::Value`s), and with arbitrary bytes decoded as
//! tonic would.
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed (`cc ...`), saved in `prop_create_order.proptest-regressions` next to
//! this file. See `docs/testing.md`.

use maestro::model::Action;
use maestro::request::{MAX_IDEMPOTENCY_KEY, MAX_ITEMS, NewOrder};
use maestro_common::json::from_proto_value;
use maestro_proto::order::v1 as pb;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use prost::Message;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as PValue};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._-]{1,70}",
        "[\\x00-\\x1f\\x7f/\\\\.]{0,8}",
        ("[a-z]", 0usize..6000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn name_or_hostile() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z0-9][a-z0-9-]{0,20}", 1 => hostile_string(), 1 => Just(String::new())]
}

fn leaf() -> impl Strategy<Value = PValue> {
    prop_oneof![
        Just(None),
        any::<i32>().prop_map(|n| Some(Kind::NullValue(n))),
        any::<bool>().prop_map(|b| Some(Kind::BoolValue(b))),
        any::<f64>().prop_map(|f| Some(Kind::NumberValue(f))),
        hostile_string().prop_map(|s| Some(Kind::StringValue(s))),
    ]
    .prop_map(|kind| PValue { kind })
}

/// Protobuf values: wide trees a few levels deep, and narrow chains up to 100 levels (as deep
/// as the protobuf decoder lets a message reach the conversion).
fn proto_value() -> impl Strategy<Value = PValue> {
    let tree = leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|values| PValue {
                kind: Some(Kind::ListValue(ListValue { values })),
            }),
            prop::collection::btree_map(hostile_string(), inner, 0..8).prop_map(|fields| {
                PValue {
                    kind: Some(Kind::StructValue(Struct { fields })),
                }
            }),
        ]
    });
    prop_oneof![3 => tree, 1 => (leaf(), prop::collection::vec(any::<bool>(), 0..95)).prop_map(|(l, path)| nest(l, &path))]
}

/// Wraps `v` in one list (`false`) or struct (`true`) per element of `path`.
fn nest(v: PValue, path: &[bool]) -> PValue {
    path.iter().fold(v, |v, as_struct| PValue {
        kind: Some(if *as_struct {
            Kind::StructValue(Struct {
                fields: [("k".to_string(), v)].into_iter().collect(),
            })
        } else {
            Kind::ListValue(ListValue { values: vec![v] })
        }),
    })
}

fn characteristic() -> impl Strategy<Value = pb::Characteristic> {
    (
        prop_oneof![4 => "[a-z_]{1,10}", 1 => hostile_string(), 1 => Just(String::new())],
        prop::option::of(proto_value()),
        hostile_string(),
    )
        .prop_map(|(name, value, value_type)| pb::Characteristic {
            name,
            value,
            value_type,
        })
}

fn placement() -> impl Strategy<Value = Option<pb::Placement>> {
    prop::option::of(
        (
            prop::collection::vec(name_or_hostile(), 0..4),
            prop::collection::hash_map(
                prop_oneof![3 => "[a-z]{1,6}", 1 => hostile_string()],
                hostile_string(),
                0..3,
            ),
            prop::collection::vec(name_or_hostile(), 0..4),
        )
            .prop_map(|(domains, domain_selector, sites)| pb::Placement {
                domains,
                domain_selector,
                sites,
                ..Default::default()
            }),
    )
}

fn item() -> impl Strategy<Value = pb::OrderItemSpec> {
    (
        name_or_hostile(),
        prop_oneof![4 => 1i32..=3, 1 => any::<i32>()],
        prop::option::of((
            name_or_hostile(),
            prop::option::of(
                (
                    prop_oneof![3 => "[a-z-]{1,10}", 1 => hostile_string()],
                    hostile_string(),
                    hostile_string(),
                )
                    .prop_map(|(id, name, version)| pb::ServiceSpecRef {
                        id,
                        name,
                        version,
                    }),
            ),
            prop::collection::vec(characteristic(), 0..5),
        )),
        placement(),
    )
        .prop_map(|(id, action, service, placement)| pb::OrderItemSpec {
            rollout_json: String::new(),
            id,
            action,
            service: service.map(|(name, service_specification, service_characteristic)| {
                pb::Service {
                    name,
                    service_specification,
                    service_characteristic,
                }
            }),
            placement,
        })
}

fn request() -> impl Strategy<Value = pb::CreateOrderRequest> {
    (
        prop_oneof![4 => "[a-zA-Z0-9-]{1,40}", 1 => hostile_string()],
        prop::option::of((
            hostile_string(),
            hostile_string(),
            hostile_string(),
            any::<i32>(),
            prop_oneof![
                8 => prop::collection::vec(item(), 0..5),
                1 => prop::collection::vec(item(), MAX_ITEMS..MAX_ITEMS + 2),
            ],
        )),
    )
        .prop_map(|(idempotency_key, order)| pb::CreateOrderRequest {
            idempotency_key,
            order: order.map(|(external_id, description, category, priority, items)| {
                pb::OrderSpec {
                    external_id,
                    description,
                    category,
                    priority,
                    items,
                }
            }),
        })
}

/// The fields a refusal may name (the first path element).
const FIELDS: [&str; 2] = ["idempotency_key", "order"];

fn check(r: pb::CreateOrderRequest) -> Result<(), TestCaseError> {
    match NewOrder::try_from(r.clone()) {
        Ok(o) => {
            let order = r.order.unwrap();
            prop_assert_eq!(&o.idempotency_key, &r.idempotency_key);
            let key_len = r.idempotency_key.chars().count();
            prop_assert!((1..=MAX_IDEMPOTENCY_KEY).contains(&key_len));
            prop_assert!(!r.idempotency_key.chars().any(char::is_control));
            prop_assert_eq!(o.items.len(), order.items.len());
            prop_assert!(!o.items.is_empty() && o.items.len() <= MAX_ITEMS);
            prop_assert_eq!(&o.external_id, &order.external_id);
            prop_assert_eq!(o.priority, order.priority);
            for (n, w) in o.items.iter().zip(&order.items) {
                prop_assert_eq!(n.id.as_str(), w.id.as_str());
                let service = w.service.as_ref().unwrap();
                prop_assert_eq!(n.service_name.as_str(), service.name.as_str());
                prop_assert!(n.action == Action::Delete || !n.spec_id.is_empty());
                // Characteristics keep their order, names, types and (JSON) values.
                prop_assert_eq!(
                    n.characteristics.len(),
                    service.service_characteristic.len()
                );
                for ((name, value, ty), c) in n
                    .characteristics
                    .iter()
                    .zip(&service.service_characteristic)
                {
                    prop_assert_eq!(name, &c.name);
                    prop_assert_eq!(ty, &c.value_type);
                    let want = c
                        .value
                        .as_ref()
                        .map_or(serde_json::Value::Null, from_proto_value);
                    prop_assert_eq!(value, &want);
                }
            }
        }
        Err(e) => {
            prop_assert!(FIELDS.iter().any(|f| e.field.starts_with(f)), "{e}");
            prop_assert!(!e.reason.is_empty(), "{e}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any request built field by field: never a panic; a refusal names the field; an accepted
    /// order keeps every submitted part (names, order, characteristic values).
    #[test]
    fn requests_convert_or_name_the_field(r in request()) {
        check(r)?;
    }

    /// Requests that pass the key and item checks, so the properties reach the characteristics
    /// and placements: same assertions.
    #[test]
    fn plausible_requests_convert_or_name_the_field(
        items in prop::collection::vec(item(), 1..4),
        key in "[a-z0-9-]{1,40}",
    ) {
        let items = items.into_iter().enumerate().map(|(i, mut it)| {
            it.id = format!("{}", i + 1);
            if let Some(s) = it.service.as_mut() {
                s.name = format!("svc-{i}");
            }
            it
        }).collect();
        check(pb::CreateOrderRequest {
            idempotency_key: key,
            order: Some(pb::OrderSpec { items, ..Default::default() }),
        })?;
    }

    /// Arbitrary bytes, and arbitrary requests re-encoded with a byte changed, decoded as tonic
    /// would: never a panic in decoding nor in conversion.
    #[test]
    fn decoded_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        r in request(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        for candidate in [bytes, {
            let mut b = r.encode_to_vec();
            if !b.is_empty() {
                let i = at.index(b.len());
                b[i] = byte;
            }
            b
        }] {
            if let Ok(decoded) = pb::CreateOrderRequest::decode(candidate.as_slice()) {
                check(decoded)?;
            }
        }
    }
}

/// A characteristic within the nesting cap converts, one past it is refused naming the field, and
/// one past the protobuf decoder's limit never reaches the conversion.
#[test]
fn deep_values_are_bounded_by_the_conversion_and_the_decoder() {
    let req = |depth: usize| pb::CreateOrderRequest {
        idempotency_key: "k".into(),
        order: Some(pb::OrderSpec {
            items: vec![pb::OrderItemSpec {
                rollout_json: String::new(),
                id: "1".into(),
                action: pb::ItemAction::Add as i32,
                service: Some(pb::Service {
                    name: "web".into(),
                    service_specification: Some(pb::ServiceSpecRef {
                        id: "demo".into(),
                        ..Default::default()
                    }),
                    service_characteristic: vec![pb::Characteristic {
                        name: "deep".into(),
                        value: Some(nest(
                            PValue {
                                kind: Some(Kind::BoolValue(true)),
                            },
                            &vec![false; depth],
                        )),
                        value_type: String::new(),
                    }],
                }),
                placement: Some(pb::Placement {
                    domains: vec!["north".into()],
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
    };
    let shallow = pb::CreateOrderRequest::decode(req(20).encode_to_vec().as_slice()).unwrap();
    assert!(NewOrder::try_from(shallow).is_ok());
    // Past the conversion's own cap (32 levels) the field is named; far past it the decoder
    // refuses first.
    let deep = pb::CreateOrderRequest::decode(req(40).encode_to_vec().as_slice()).unwrap();
    let err = NewOrder::try_from(deep).unwrap_err().to_string();
    assert!(
        err.contains("service_characteristic[0]") && err.contains("32"),
        "{err}"
    );
    assert!(pb::CreateOrderRequest::decode(req(200).encode_to_vec().as_slice()).is_err());
}
