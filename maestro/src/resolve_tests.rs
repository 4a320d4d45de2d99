use super::*;
use crate::fixtures;
use serde_json::json;

fn given(pairs: &[(&str, Value)]) -> Vec<(String, Value, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone(), String::new()))
        .collect()
}

#[test]
fn values_outside_their_bounds_are_refused_naming_the_characteristic() {
    let spec = fixtures::catalog().get("demo").unwrap();
    for (value, got) in [
        (json!(-1), "-1"),
        (json!(2_147_483_648_i64), "2147483648"),
        (json!("1000000000"), "1000000000"),
    ] {
        let e = resolve_characteristics(
            "order.items[0]",
            &spec,
            &given(&[("message", json!("hi")), ("replicas", value)]),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "order.items[0].service.service_characteristic[1].value: replicas: must be \
                 between 0 and 256, got {got}"
            )
        );
    }
    let ok = resolve_characteristics(
        "order.items[0]",
        &spec,
        &given(&[
            ("message", json!("x; rm -rf ~ $(id)")),
            ("replicas", json!(0)),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(ok[0].value, json!(0));
}

#[test]
fn a_kept_value_outside_the_current_bounds_is_refused() {
    let spec = fixtures::catalog().get("demo").unwrap();
    let base = [CharacteristicValue {
        name: "replicas".into(),
        value: json!(1000),
        value_type: "integer".into(),
    }];
    let e = resolve_characteristics(
        "order.items[0]",
        &spec,
        &given(&[("message", json!("hi"))]),
        &base,
    )
    .unwrap_err();
    assert_eq!(e.field, "order.items[0].service.service_characteristic");
    assert!(
        e.reason
            .starts_with("replicas: must be between 0 and 256, got 1000"),
        "{e}"
    );
}
