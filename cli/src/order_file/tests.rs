use super::*;
use maestro_common::json::from_proto_value;
use serde_json::json;

const DEMO: &str = r#"
externalId: demo-1
description: Demo order
orderItem:
  - id: "1"
    action: add
    service:
      name: hello
      serviceSpecification: { id: demo-app }
      serviceCharacteristic:
        - { name: message, value: "hello from maestro" }
        - { name: replicas, value: 2 }
    placement: { domains: [north, south] }
"#;

fn characteristic(spec: &pb::OrderSpec, item: usize, name: &str) -> Value {
    let service = spec.items[item].service.as_ref().unwrap();
    let c = service
        .service_characteristic
        .iter()
        .find(|c| c.name == name)
        .unwrap();
    from_proto_value(c.value.as_ref().unwrap())
}

fn invalid_field(err: OrderFileError) -> String {
    match err {
        OrderFileError::Invalid { error, .. } => error.field,
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn parses_plain_yaml_order() {
    let req = parse("demo.yaml", DEMO.as_bytes(), false).unwrap();
    assert_eq!(req.spec.external_id, "demo-1");
    assert_eq!(req.spec.items.len(), 1);
    let item = &req.spec.items[0];
    assert_eq!(item.action, pb::ItemAction::Add as i32);
    assert_eq!(
        item.service
            .as_ref()
            .unwrap()
            .service_specification
            .as_ref()
            .unwrap()
            .id,
        "demo-app"
    );
    assert_eq!(
        item.placement.as_ref().unwrap().domains,
        vec!["north", "south"]
    );
    assert_eq!(characteristic(&req.spec, 0, "replicas"), json!(2));
    assert_eq!(
        characteristic(&req.spec, 0, "message"),
        json!("hello from maestro")
    );
}

#[test]
fn default_idempotency_key_is_stable_per_content() {
    let a = parse("a.yaml", DEMO.as_bytes(), false).unwrap();
    let b = parse("b.yaml", DEMO.as_bytes(), false).unwrap();
    assert_eq!(a.idempotency_key, b.idempotency_key);
    let changed = DEMO.replace("demo-1", "demo-2");
    let c = parse("a.yaml", changed.as_bytes(), false).unwrap();
    assert_ne!(a.idempotency_key, c.idempotency_key);
    let explicit = format!("idempotencyKey: my-key\n{DEMO}");
    assert_eq!(
        parse("a.yaml", explicit.as_bytes(), false)
            .unwrap()
            .idempotency_key,
        "my-key"
    );
}

#[test]
fn parses_openslice_json_with_wrapped_values_and_uppercase() {
    let doc = json!({
        "externalId": "os-1",
        "state": "INITIAL",
        "orderItem": [{
            "id": "a",
            "action": "ADD",
            "state": "ACKNOWLEDGED",
            "service": {
                "name": "hello",
                "serviceSpecification": {"id": "demo-app", "version": "1.0"},
                "serviceCharacteristic": [
                    {"name": "replicas", "valueType": "integer", "value": {"value": 3, "alias": "replicas"}},
                    {"name": "message", "value": {"value": "hi"}},
                    {"name": "config", "value": {"a": 1}}
                ]
            },
            "placement": {"domainSelector": {"tier": "edge"}}
        }]
    });
    let req = parse("o.json", doc.to_string().as_bytes(), true).unwrap();
    assert_eq!(req.spec.items[0].action, pb::ItemAction::Add as i32);
    assert_eq!(characteristic(&req.spec, 0, "replicas"), json!(3));
    assert_eq!(characteristic(&req.spec, 0, "message"), json!("hi"));
    assert_eq!(
        characteristic(&req.spec, 0, "config"),
        json!({"a": 1}),
        "plain objects are not unwrapped"
    );
    let service = req.spec.items[0].service.as_ref().unwrap();
    assert_eq!(service.service_characteristic[0].value_type, "integer");
    let placement = req.spec.items[0].placement.as_ref().unwrap();
    assert_eq!(
        placement.domain_selector.get("tier").map(String::as_str),
        Some("edge")
    );
}

#[test]
fn unknown_field_is_rejected_with_its_path() {
    let bad = DEMO.replace("      name: hello", "      name: hello\n      colour: blue");
    let err = parse("demo.yaml", bad.as_bytes(), false).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("colour"), "{text}");
    assert!(text.contains("orderItem[0].service"), "{text}");
    assert!(matches!(err, OrderFileError::Parse { .. }));
}

#[test]
fn unknown_action_and_state_are_rejected() {
    let bad = DEMO.replace("action: add", "action: upgrade");
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem[0].action"
    );
    let bad = format!("state: DONE\n{DEMO}");
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "state"
    );
}

#[test]
fn validation_names_the_field() {
    let bad = DEMO.replace("name: hello", "name: ../etc");
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem[0].service.name"
    );
    let bad = DEMO.replace("domains: [north, south]", "domains: []");
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem[0].placement"
    );
    let bad = DEMO.replace("domains: [north, south]", "domains: [north, \"a/b\"]");
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem[0].placement.domains[1]"
    );
    let bad = DEMO.replace(
        "{ name: replicas, value: 2 }",
        "{ name: message, value: 2 }",
    );
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem[0].service.serviceCharacteristic[1].name"
    );
    let bad = DEMO.replace(
        "serviceSpecification: { id: demo-app }",
        "serviceSpecification: { name: x }",
    );
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem[0].service.serviceSpecification.id"
    );
    let bad = "externalId: x\norderItem: []\n";
    assert_eq!(
        invalid_field(parse("d", bad.as_bytes(), false).unwrap_err()),
        "orderItem"
    );
    let long_key = format!("idempotencyKey: {}\n{DEMO}", "k".repeat(129));
    assert_eq!(
        invalid_field(parse("d", long_key.as_bytes(), false).unwrap_err()),
        "idempotencyKey"
    );
}

#[test]
fn delete_needs_no_spec_or_placement() {
    let doc = "orderItem:\n  - id: '1'\n    action: DELETE\n    service: { name: hello }\n";
    let req = parse("d", doc.as_bytes(), false).unwrap();
    assert_eq!(req.spec.items[0].action, pb::ItemAction::Delete as i32);
}

#[test]
fn wrong_types_and_syntax_are_parse_errors() {
    let bad = DEMO.replace("id: \"1\"", "id: [1]");
    let err = parse("d", bad.as_bytes(), false).unwrap_err();
    assert!(err.to_string().contains("orderItem[0].id"), "{err}");
    assert!(matches!(
        parse("d", b"{ not json", true).unwrap_err(),
        OrderFileError::Parse { .. }
    ));
    assert!(matches!(
        parse("d", b"   \n", false).unwrap_err(),
        OrderFileError::Parse { .. }
    ));
    assert!(matches!(
        parse("d", &[0xff, 0xfe], false).unwrap_err(),
        OrderFileError::Parse { .. }
    ));
}

#[test]
fn oversized_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    let mut text = DEMO.to_string();
    text.push_str(&format!(
        "# {}\n",
        "x".repeat(MAX_ORDER_FILE_BYTES as usize)
    ));
    std::fs::write(&path, text).unwrap();
    assert!(matches!(
        load(&path).unwrap_err(),
        OrderFileError::TooLarge { .. }
    ));
    let ok = dir.path().join("ok.yaml");
    std::fs::write(&ok, DEMO).unwrap();
    assert_eq!(load(&ok).unwrap().spec.external_id, "demo-1");
    assert!(matches!(
        load(&dir.path().join("missing.yaml")).unwrap_err(),
        OrderFileError::Read { .. }
    ));
}

#[test]
fn json_objects_written_as_arrays_are_refused_like_yaml() {
    // Found by the property tests: serde reads a JSON array as a struct's fields in order, so a
    // JSON file could give `placement` (or any object) positionally while YAML refused it.
    let item = |placement: Value| {
        json!({"idempotencyKey": "k", "orderItem": [{"id": "1", "action": "modify",
            "service": {"name": "a", "serviceSpecification": {"id": "s"}},
            "placement": placement}]})
    };
    for placement in [json!([]), json!([["north"]])] {
        let bytes = serde_json::to_vec(&item(placement)).unwrap();
        match parse("o.json", &bytes, true).unwrap_err() {
            OrderFileError::Parse { field, .. } => assert_eq!(field, "orderItem[0].placement"),
            other => panic!("expected Parse, got {other}"),
        }
    }
    let bytes = serde_json::to_vec(&item(json!({"domains": ["north"]}))).unwrap();
    assert!(parse("o.json", &bytes, true).is_ok());
    let positional = br#"{"idempotencyKey": "k", "orderItem": [{"id": "1", "action": "delete",
        "service": ["a", null, []]}]}"#;
    match parse("o.json", positional, true).unwrap_err() {
        OrderFileError::Parse { field, .. } => assert_eq!(field, "orderItem[0].service"),
        other => panic!("expected Parse, got {other}"),
    }
    match parse("o.json", b"[null, null]", true).unwrap_err() {
        OrderFileError::Parse { field, .. } => assert_eq!(field, "."),
        other => panic!("expected Parse, got {other}"),
    }
}
