use super::*;
use crate::fixtures::{self, domain};
use crate::model::Placement;
use crate::resolve::resolve_targets;
use serde_json::{Value, json};

fn spec_doc(id: &str, version: &str) -> Value {
    json!({
        "id": id,
        "version": version,
        "blueprints": [{
            "kind": "ProcessDeployment",
            "metadata": {"name": "${service}"},
            "spec": {"command": "/bin/sh", "replicas": 1},
        }],
    })
}

fn publishing(id: &str, specs: &[Value]) -> DomainRecord {
    DomainRecord {
        catalog: Some(specs.to_vec()),
        ..domain(id, &["s1"])
    }
}

#[test]
fn a_domain_without_a_catalog_offers_maestros_own_specs_only() {
    let open = domain("open", &["s1"]);
    let east = publishing("east", &[spec_doc("pump", "1")]);
    let offers = Offers::new(fixtures::catalog(), &[open.clone(), east.clone()]);
    assert!(offers.offers(&open, "demo"));
    assert!(!offers.offers(&open, "pump"), "another domain's spec");
    assert!(offers.offers(&east, "pump"));
    assert!(
        !offers.offers(&east, "demo"),
        "a publisher offers what it publishes"
    );
    assert_eq!(
        offers.offered_by("demo", &[open.clone(), east.clone()]),
        ["open"]
    );
    assert_eq!(offers.offered_by("pump", &[open, east]), ["east"]);
    let ids: Vec<&str> = offers.specs().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["demo", "pump"], "the catalog is the union");
}

#[test]
fn a_domain_publishing_another_definition_under_an_id_does_not_offer_it() {
    let a = publishing("a", &[spec_doc("pump", "1")]);
    let b = publishing("b", &[spec_doc("pump", "1")]);
    let c = publishing("c", &[spec_doc("pump", "2")]);
    let offers = Offers::new(Catalog::default(), &[a.clone(), b.clone(), c.clone()]);
    assert_eq!(
        offers.get("pump").unwrap().version,
        "1",
        "most publishers agree on 1"
    );
    assert!(offers.offers(&a, "pump") && offers.offers(&b, "pump"));
    assert!(!offers.offers(&c, "pump"));
    assert_eq!(offers.conflicting("pump"), ["c"]);

    // A tie goes to the definition whose first publisher sorts first.
    let offers = Offers::new(Catalog::default(), &[c.clone(), b.clone()]);
    assert_eq!(offers.get("pump").unwrap().version, "1");
    assert_eq!(offers.conflicting("pump"), ["c"]);

    // Maestro's own definition always wins.
    let mut own = fixtures::catalog().get("demo").unwrap().as_ref().clone();
    own.id = maestro_common::ResourceName::parse("id", "pump").unwrap();
    let offers = Offers::new(Catalog::from_specs([own]), &[a.clone(), c]);
    assert!(
        !offers.offers(&a, "pump"),
        "a's pump differs from maestro's"
    );
    assert_eq!(offers.conflicting("pump"), ["a", "c"]);
}

#[test]
fn placement_considers_only_domains_that_offer_the_spec() {
    let open = domain("open", &["s1"]);
    let east = publishing("east", &[spec_doc("pump", "1")]);
    let domains = [open.clone(), east.clone()];
    let offers = Offers::new(fixtures::catalog(), &domains);
    let check = |d: &DomainRecord| {
        if offers.offers(d, "pump") {
            Ok(())
        } else {
            Err(format!("domain '{}' does not offer it", d.id))
        }
    };
    let selector = Placement {
        domain_selector: [("tier".to_string(), "edge".to_string())].into(),
        ..Placement::default()
    };
    let targets = resolve_targets("order.items[0]", &selector, &domains, check).unwrap();
    let ids: Vec<&str> = targets.iter().map(|t| t.domain.as_str()).collect();
    assert_eq!(
        ids,
        ["east"],
        "the selector matches both; only east offers pump"
    );

    let named = Placement {
        domains: vec!["open".into()],
        ..Placement::default()
    };
    let e = resolve_targets("order.items[0]", &named, &domains, check).unwrap_err();
    assert_eq!(e.field, "order.items[0].placement.domains[0]");
    assert!(
        e.to_string().contains("domain 'open' does not offer it"),
        "{e}"
    );

    let nobody = Offers::new(fixtures::catalog(), std::slice::from_ref(&open));
    let e = resolve_targets("order.items[0]", &selector, &[open], |d| {
        if nobody.offers(d, "pump") {
            Ok(())
        } else {
            Err("none".into())
        }
    })
    .unwrap_err();
    assert_eq!(e.field, "order.items[0].placement.domain_selector");
}

#[tokio::test]
async fn the_view_is_rebuilt_when_a_domain_registers_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let registry = DomainRegistry::open(&db, 60_000).unwrap();
    let view = CatalogView::new(fixtures::catalog(), registry.clone());
    let register = |docs: Vec<Value>| {
        crate::registry::DomainRegistration::try_from(
            maestro_proto::domain::v1::RegisterDomainRequest {
                id: "east".into(),
                endpoint: "http://127.0.0.1:1".into(),
                catalog_json: docs.iter().map(Value::to_string).collect(),
                publishes_catalog: true,
                ..Default::default()
            },
        )
        .unwrap()
    };
    registry
        .register(register(vec![spec_doc("pump", "1")]), 1)
        .await
        .unwrap();
    let first = view.current().unwrap();
    assert!(first.get("pump").is_some());
    assert!(
        Arc::ptr_eq(&first, &view.current().unwrap()),
        "cached while nothing changed"
    );
    registry
        .register(
            register(vec![spec_doc("pump", "1"), spec_doc("valve", "1")]),
            2,
        )
        .await
        .unwrap();
    assert!(
        view.current().unwrap().get("valve").is_some(),
        "a new spec reaches maestro"
    );
}

#[test]
fn a_published_catalog_is_checked_at_registration() {
    let reg = |docs: Vec<String>, publishes: bool| {
        crate::registry::DomainRegistration::try_from(
            maestro_proto::domain::v1::RegisterDomainRequest {
                id: "east".into(),
                endpoint: "http://127.0.0.1:1".into(),
                catalog_json: docs,
                publishes_catalog: publishes,
                ..Default::default()
            },
        )
    };
    let bad_type = json!({"id": "pump", "characteristics": [{"name": "n", "valueType": "color"}]});
    let e = reg(
        vec![spec_doc("ok", "1").to_string(), bad_type.to_string()],
        true,
    )
    .unwrap_err();
    assert_eq!(e.field, "catalog_json[1].characteristics[0].valueType");
    let e = reg(
        vec![
            spec_doc("a", "1").to_string(),
            spec_doc("a", "2").to_string(),
        ],
        true,
    )
    .unwrap_err();
    assert_eq!(e.field, "catalog_json[1].id");
    let e = reg(vec!["{".into()], true).unwrap_err();
    assert_eq!(e.field, "catalog_json[0]");
    let e = reg(vec![spec_doc("a", "1").to_string()], false).unwrap_err();
    assert_eq!(e.field, "catalog_json");
    assert_eq!(
        reg(vec![], true).unwrap().catalog,
        Some(vec![]),
        "publishes nothing"
    );
    assert_eq!(reg(vec![], false).unwrap().catalog, None);
}
