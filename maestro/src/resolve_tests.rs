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

#[test]
fn a_site_selector_keeps_the_sites_whose_labels_match_and_skips_domains_without_one() {
    use crate::fixtures::domain;
    use crate::model::Placement;
    let mut north = domain("north", &["n1", "n2", "n3"]);
    north.labels.insert("power".into(), "grid".into());
    north.site_labels.insert(
        "n2".into(),
        [("power".to_string(), "solar".to_string())].into(),
    );
    let mut south = domain("south", &["s1"]);
    south.labels.insert("power".into(), "solar".into());
    let east = domain("east", &["e1"]);
    let all = [north, south, east];
    let placement = |domains: &[&str]| Placement {
        domain_selector: if domains.is_empty() {
            [("tier".to_string(), "edge".to_string())].into()
        } else {
            Default::default()
        },
        domains: domains.iter().map(ToString::to_string).collect(),
        site_selector: [("power".to_string(), "grid".to_string())].into(),
        ..Placement::default()
    };
    let ok = |_: &crate::registry::DomainRecord| Ok(());
    let t = resolve_targets("order.items[0]", &placement(&[]), &all, ok).unwrap();
    let got: Vec<(&str, Vec<&str>)> = t
        .iter()
        .map(|t| {
            (
                t.domain.as_str(),
                t.sites.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("north", vec!["n1", "n3"])],
        "n2's own label wins; south and east have no grid site"
    );
    let e = resolve_targets("order.items[0]", &placement(&["south"]), &all, ok).unwrap_err();
    assert_eq!(e.field, "order.items[0].placement.domains[0]");
}
