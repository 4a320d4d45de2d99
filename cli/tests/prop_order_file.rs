//! Property tests of the order file parser (`maestro_cli::order_file::parse`): arbitrary bytes
//! and text as YAML and JSON, YAML with anchors and deep nesting, and documents of the order
//! shape with hostile or ill-typed parts.
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed (`cc ...`), saved in `prop_order_file.proptest-regressions` next to this
//! file. See `docs/testing.md`.

use maestro_cli::order_file::{OrderFileError, parse};
use maestro_common::json::from_proto_value;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

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
        "[\\x00-\\x1f\\x7f/\\\\.:#&*!|>{}\\[\\]-]{0,8}",
        ("[a-z]", 0usize..3000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        // Floats with a short exact decimal form (their text reads back exactly).
        (-1_000_000i32..1_000_000).prop_map(|n| json!(f64::from(n) / 8.0)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((hostile_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The error names a field (`.` for the whole document) and a reason.
fn check_error(e: &OrderFileError) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(
        text.starts_with("order.yaml") || text.starts_with("order.json"),
        "{text}"
    );
    match e {
        OrderFileError::Parse { field, reason, .. } => {
            prop_assert!(!field.is_empty(), "{text}");
            prop_assert!(!reason.is_empty(), "{text}");
        }
        OrderFileError::Invalid { error, .. } => {
            prop_assert!(!error.field.is_empty(), "{text}");
            prop_assert!(!error.reason.is_empty(), "{text}");
        }
        OrderFileError::TooLarge { .. } | OrderFileError::Read { .. } => {}
    }
    Ok(())
}

fn parse_both(bytes: &[u8]) -> Result<(), TestCaseError> {
    for (origin, json) in [("order.yaml", false), ("order.json", true)] {
        if let Err(e) = parse(origin, bytes, json) {
            check_error(&e)?;
        }
    }
    Ok(())
}

fn mostly(right: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![5 => right, 1 => json_value()]
}

fn name() -> BoxedStrategy<Value> {
    prop_oneof![4 => "[a-z0-9][a-z0-9-]{0,12}".prop_map(Value::String), 1 => hostile_string().prop_map(Value::String)].boxed()
}

/// An item of the order shape whose parts are sometimes hostile or of the wrong type, plus
/// sometimes an unknown key.
fn item() -> impl Strategy<Value = Value> {
    let characteristic = (
        mostly("[a-z_]{1,8}".prop_map(Value::String).boxed()),
        prop::option::of(hostile_string()),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(name, value_type, value, wrapped)| {
            let value = if wrapped {
                json!({"value": value, "alias": "a"})
            } else {
                value
            };
            let mut m = Map::new();
            m.insert("name".into(), name);
            m.insert("value".into(), value);
            if let Some(t) = value_type {
                m.insert("valueType".into(), Value::String(t));
            }
            Value::Object(m)
        });
    let placement = (
        prop::collection::vec(name(), 0..3),
        prop::collection::btree_map(hostile_string(), hostile_string(), 0..2),
        prop::collection::vec(name(), 0..3),
    )
        .prop_map(|(d, sel, s)| json!({"domains": d, "domainSelector": sel, "sites": s}));
    (
        mostly("[0-9]{1,3}".prop_map(Value::String).boxed()),
        mostly(
            prop_oneof![
                Just("add"),
                Just("ADD"),
                Just("modify"),
                Just("delete"),
                Just("noChange")
            ]
            .prop_map(|s| json!(s))
            .boxed(),
        ),
        name(),
        mostly("[a-z-]{0,8}".prop_map(Value::String).boxed()),
        mostly(
            prop::collection::vec(characteristic, 0..4)
                .prop_map(Value::Array)
                .boxed(),
        ),
        mostly(placement.boxed()),
        prop::option::of((hostile_string(), json_value())),
    )
        .prop_map(|(id, action, name, spec, chars, placement, extra)| {
            let mut m = Map::new();
            m.insert("id".into(), id);
            m.insert("action".into(), action);
            m.insert(
                "service".into(),
                json!({"name": name, "serviceSpecification": {"id": spec},
                       "serviceCharacteristic": chars}),
            );
            m.insert("placement".into(), placement);
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

fn document() -> impl Strategy<Value = Value> {
    (
        prop::option::of(hostile_string()),
        prop::option::of(mostly(
            prop_oneof![Just("INITIAL"), Just("acknowledged"), Just("bogus")]
                .prop_map(|s| json!(s))
                .boxed(),
        )),
        prop::option::of(mostly("[a-z0-9-]{1,20}".prop_map(Value::String).boxed())),
        prop::option::of(any::<i32>()),
        mostly(
            prop::collection::vec(item(), 0..4)
                .prop_map(Value::Array)
                .boxed(),
        ),
    )
        .prop_map(|(external_id, state, key, priority, items)| {
            let mut m = Map::new();
            if let Some(x) = external_id {
                m.insert("externalId".into(), Value::String(x));
            }
            if let Some(s) = state {
                m.insert("state".into(), s);
            }
            if let Some(k) = key {
                m.insert("idempotencyKey".into(), k);
            }
            if let Some(p) = priority {
                m.insert("priority".into(), json!(p));
            }
            m.insert("orderItem".into(), items);
            Value::Object(m)
        })
}

/// YAML text with hostile constructs: anchors and aliases, tags, deep flow nesting, merge keys.
fn hostile_yaml() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..300).prop_map(|n| format!("orderItem: {}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..300).prop_map(|n| format!("orderItem: {}", "- ".repeat(n))),
        (1usize..12).prop_map(|n| {
            // A characteristic value where each level refers to the previous one ten times
            // ("billion laughs"): the value is JSON, so the parser would expand every alias.
            let mut s = String::from(
                "idempotencyKey: k\norderItem:\n- id: '1'\n  action: add\n  service:\n    \
                 name: a\n    serviceSpecification: {id: s}\n    serviceCharacteristic:\n    \
                 - name: c\n      value:\n        a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
            );
            for i in 1..=n {
                let p = i - 1;
                s.push_str(&format!(
                    "        a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
                ));
            }
            s.push_str("  placement: {domains: [north]}\n");
            s
        }),
        Just("orderItem: !!binary aGVsbG8=\n".to_string()),
        Just("<<: {externalId: x}\norderItem: []\n".to_string()),
        Just("--- {}\n--- {}\n".to_string()),
        Just("orderItem: [{id: 1, action: add, service: {name: a}, placement: {domains: [north]}}]\n\u{feff}".to_string()),
        "[-:{}\\[\\],&*!|>'\"%@` \n\ta-z0-9]{0,80}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as YAML and as JSON: never a panic; a refusal names a field.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_both(&bytes)?;
    }

    /// Arbitrary text (and YAML with anchors, tags, deep nesting): never a panic; a refusal
    /// names a field.
    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![any::<String>(), hostile_yaml()]) {
        parse_both(text.as_bytes())?;
    }

    /// Documents of the order shape with hostile or ill-typed parts, written as JSON and as
    /// YAML: never a panic; a refusal names a field; both spellings give the same result.
    #[test]
    fn hostile_documents_are_refused_by_field(doc in document()) {
        let json_text = serde_json::to_vec(&doc).unwrap();
        let yaml_text = serde_yaml::to_string(&doc).unwrap();
        let from_json = parse("order.json", &json_text, true);
        let from_yaml = parse("order.yaml", yaml_text.as_bytes(), false);
        for r in [&from_json, &from_yaml] {
            if let Err(e) = r {
                check_error(e)?;
            }
        }
        if doc.get("idempotencyKey").is_some_and(Value::is_string) {
            // Without a key in the file the key is derived from the bytes, which differ.
            match (&from_json, &from_yaml) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                // YAML's plain scalars are text where text is expected (`id: 1`, `id: false`,
                // `id: null` give "1", "false", "null"); JSON refuses a number, boolean or null
                // for a string field. Documented in docs/testing.md.
                (Err(OrderFileError::Parse { reason, .. }), Ok(_))
                    if ["null", "boolean", "integer", "floating point"]
                        .iter()
                        .any(|t| reason.starts_with(&format!("invalid type: {t}")))
                        && reason.contains("expected a string") => {}
                (a, b) => prop_assert!(false, "JSON gave {a:?}, YAML gave {b:?}"),
            }
        }
        if let Ok(req) = from_json {
            // Accepted: every item is kept in order with its characteristics unwrapped.
            let items = doc["orderItem"].as_array().unwrap();
            prop_assert_eq!(req.spec.items.len(), items.len());
            for (got, want) in req.spec.items.iter().zip(items) {
                prop_assert_eq!(Some(got.id.as_str()), want["id"].as_str());
                let service = got.service.as_ref().unwrap();
                let chars = want["service"]["serviceCharacteristic"].as_array().unwrap();
                prop_assert_eq!(service.service_characteristic.len(), chars.len());
                for (c, w) in service.service_characteristic.iter().zip(chars) {
                    let mut value = w["value"].clone();
                    if let Value::Object(m) = &value
                        && m.contains_key("value")
                        && m.keys().all(|k| k == "value" || k == "alias")
                    {
                        value = m["value"].clone();
                    }
                    let back = from_proto_value(c.value.as_ref().unwrap());
                    prop_assert!(same_json(&back, &value), "{value} became {back}");
                }
            }
        }
    }
}

/// JSON equality with numbers compared as f64 (characteristic values travel as protobuf
/// doubles).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_json(a, b)))
        }
        _ => a == b,
    }
}
