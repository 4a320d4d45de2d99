use super::*;
use maestro_common::contract::process_deployment_definition;
use maestro_common::json::canonical;
use serde_json::json;

fn intent(templates: Vec<Value>) -> Intent {
    Intent {
        id: maestro_common::ids::intent_id("web", "north"),
        generation: 3,
        service_name: ResourceName::parse("s", "web").unwrap(),
        order_id: "o-1".into(),
        order_item_id: "1".into(),
        spec_id: "demo".into(),
        spec_version: "1.0".into(),
        sites: vec![],
        characteristics: json!({"replicas": 2, "message": "hi"})
            .as_object()
            .unwrap()
            .clone(),
        blueprint_templates: templates,
        deleted: false,
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        organisation: String::new(),
        rollout: None,
    }
}

fn sites(names: &[&str]) -> Vec<ResourceName> {
    names
        .iter()
        .map(|n| ResourceName::parse("s", n).unwrap())
        .collect()
}

fn demo() -> Value {
    json!({"kind": "ProcessDeployment", "shell": true, "metadata": {"name": "${service}-${site}", "colonyname": "x"},
           "spec": {"command": "/bin/sh", "args": ["-c", "echo ${message} g${generation}"], "replicas": "${replicas}"}})
}

#[test]
fn renders_per_site_with_labels_and_annotations() {
    let i = intent(vec![demo()]);
    let out = render_intent(&i, "north", &sites(&["s1", "s2"])).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].path(), "sites/s2/ProcessDeployment/web-s2.json");
    let doc: Value = serde_json::from_str(&out[0].content).unwrap();
    assert_eq!(doc["spec"]["replicas"], json!(2));
    assert_eq!(doc["spec"]["args"][1], json!("echo 'hi' g'3'"));
    assert!(
        doc.get("shell").is_none(),
        "the shell declaration is not a blueprint field"
    );
    assert_eq!(doc["metadata"]["labels"][LABEL_SERVICE], json!("web"));
    let ann = &doc["metadata"]["annotations"];
    assert_eq!(ann[ANN_INTENT_ID], json!(i.id));
    assert_eq!(ann[ANN_INTENT_GENERATION], json!("3"));
    assert_eq!(ann[ANN_ORDER_ID], json!("o-1"));
    assert_eq!(ann[ANN_SERVICE], json!("web"));
    assert_eq!(ann[ANN_TRACEPARENT], json!(i.traceparent));
    assert!(doc["metadata"].get("colonyname").is_none());
    assert_eq!(out[0].content, canonical(&doc), "content is canonical JSON");
}

#[test]
fn rendering_is_deterministic() {
    let i = intent(vec![demo()]);
    assert_eq!(
        render_intent(&i, "north", &sites(&["s1"])),
        render_intent(&i, "north", &sites(&["s1"]))
    );
}

#[test]
fn rejects_bad_kind_and_name() {
    let bad_kind = json!({"kind": "a/b", "metadata": {"name": "x"}});
    let e = render_intent(&intent(vec![bad_kind]), "north", &sites(&["s1"])).unwrap_err();
    assert_eq!(e.field, "blueprint_templates_json[0].kind");
    let no_name = json!({"kind": "K", "metadata": {}});
    let e = render_intent(&intent(vec![demo(), no_name]), "north", &sites(&["s1"])).unwrap_err();
    assert_eq!(e.field, "blueprint_templates_json[1].metadata.name");
    let traversal = json!({"kind": "K", "metadata": {"name": "${message}"}});
    let mut i = intent(vec![traversal]);
    i.characteristics.insert("message".into(), json!("../etc"));
    assert!(render_intent(&i, "north", &sites(&["s1"])).is_err());
}

#[test]
fn values_in_a_shell_script_are_quoted_and_an_undeclared_script_is_refused() {
    let mut i = intent(vec![demo()]);
    i.characteristics
        .insert("message".into(), json!("x; touch /tmp/injected"));
    let out = render_intent(&i, "north", &sites(&["s1"])).unwrap();
    let doc: Value = serde_json::from_str(&out[0].content).unwrap();
    assert_eq!(
        doc["spec"]["args"][1],
        json!("echo 'x; touch /tmp/injected' g'3'")
    );
    let mut undeclared = demo();
    undeclared.as_object_mut().unwrap().remove("shell");
    let e = render_intent(&intent(vec![undeclared]), "north", &sites(&["s1"])).unwrap_err();
    assert_eq!(e.field, "blueprint_templates_json[0].spec.args[1]");
}

#[test]
fn unknown_variable_names_the_template_path() {
    let t = json!({"kind": "K", "metadata": {"name": "x"}, "spec": {"a": "${nope}"}});
    let e = render_intent(&intent(vec![t]), "north", &sites(&["s1"])).unwrap_err();
    assert_eq!(e.field, "blueprint_templates_json[0].spec.a");
}

#[test]
fn definition_has_the_contract_shape() {
    let d = process_deployment_definition().to_value();
    assert_eq!(
        d["spec"]["handler"]["executorType"],
        json!("process-reconciler")
    );
    assert_eq!(d["spec"]["names"]["kind"], json!("ProcessDeployment"));
    assert_eq!(definitions()[0].0, "definitions/ProcessDeployment.json");
}

fn previous_spec() -> crate::intent::PreviousSpec {
    crate::intent::PreviousSpec {
        generation: 2,
        order_id: "o-0".into(),
        spec_id: "demo".into(),
        spec_version: "0.9".into(),
        characteristics: json!({"replicas": 1, "message": "old"})
            .as_object()
            .unwrap()
            .clone(),
        blueprint_templates: vec![demo()],
        traceparent: String::new(),
    }
}

/// Generation 3 rolling out to `admitted`, the others keeping generation 2.
fn rolling(admitted: &[&str], previous: Option<crate::intent::PreviousSpec>) -> Intent {
    let mut i = intent(vec![demo()]);
    i.rollout = Some(crate::intent::IntentRollout {
        step: 1,
        sites: sites(admitted),
        previous,
        fall_back_after: 4,
    });
    i
}

fn by_site(out: &[RenderedBlueprint], site: &str) -> Vec<Value> {
    out.iter()
        .filter(|b| b.site.as_str() == site)
        .map(|b| serde_json::from_str(&b.content).unwrap())
        .collect()
}

#[test]
fn an_admitted_site_runs_the_generation_with_its_fall_back_threshold() {
    let out = render_intent(
        &rolling(&["s1"], Some(previous_spec())),
        "north",
        &sites(&["s1", "s2"]),
    )
    .unwrap();
    let s1 = by_site(&out, "s1");
    assert_eq!(s1.len(), 1);
    let ann = &s1[0]["metadata"]["annotations"];
    assert_eq!(ann[ANN_INTENT_GENERATION], json!("3"));
    assert_eq!(ann[ANN_FALL_BACK_AFTER], json!("4"));
    assert_eq!(s1[0]["spec"]["replicas"], json!(2));
    let mut no_threshold = rolling(&["s1"], None);
    no_threshold.rollout.as_mut().unwrap().fall_back_after = 0;
    let out = render_intent(&no_threshold, "north", &sites(&["s1"])).unwrap();
    assert!(
        by_site(&out, "s1")[0]["metadata"]["annotations"]
            .get(ANN_FALL_BACK_AFTER)
            .is_none(),
        "0 leaves the site's default"
    );
    let plain = render_intent(&intent(vec![demo()]), "north", &sites(&["s1"])).unwrap();
    assert!(!plain[0].content.contains(ANN_FALL_BACK_AFTER));
}

#[test]
fn a_site_not_admitted_runs_the_previous_spec_exactly_as_it_was_rendered() {
    let i = rolling(&["s1"], Some(previous_spec()));
    let out = render_intent(&i, "north", &sites(&["s1", "s2"])).unwrap();
    // What generation 2 itself rendered for s2.
    let mut gen2 = intent(vec![demo()]);
    gen2.generation = 2;
    gen2.order_id = "o-0".into();
    gen2.spec_version = "0.9".into();
    gen2.characteristics = previous_spec().characteristics;
    let before = render_intent(&gen2, "north", &sites(&["s2"])).unwrap();
    let s2: Vec<_> = out.iter().filter(|b| b.site.as_str() == "s2").collect();
    assert_eq!(s2, before.iter().collect::<Vec<_>>(), "byte-identical");
    let doc = &by_site(&out, "s2")[0];
    assert_eq!(doc["spec"]["args"][1], json!("echo 'old' g'2'"));
    assert_eq!(
        doc["metadata"]["annotations"][ANN_INTENT_GENERATION],
        json!("2")
    );
    assert_eq!(doc["metadata"]["annotations"][ANN_ORDER_ID], json!("o-0"));
    assert!(
        doc["metadata"]["annotations"]
            .get(ANN_FALL_BACK_AFTER)
            .is_none()
    );
}

#[test]
fn a_site_not_admitted_without_a_previous_spec_runs_nothing() {
    let i = rolling(&["s1"], None);
    let out = render_intent(&i, "north", &sites(&["s1", "s2"])).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].site.as_str(), "s1");
    let none = rolling(&[], None);
    assert!(
        render_intent(&none, "north", &sites(&["s1", "s2"]))
            .unwrap()
            .is_empty()
    );
    // A deleted intent is never held back by a rollout.
    let mut deleted = rolling(&[], None);
    deleted.deleted = true;
    assert_eq!(
        render_intent(&deleted, "north", &sites(&["s1"]))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_previous_template_that_does_not_render_names_its_field() {
    let mut p = previous_spec();
    p.blueprint_templates = vec![json!({"kind": "K", "metadata": {"name": "${nope}"}})];
    let e = render_intent(&rolling(&["s1"], Some(p)), "north", &sites(&["s1", "s2"])).unwrap_err();
    assert_eq!(
        e.field,
        "rollout.previous.blueprint_templates_json[0].metadata.name"
    );
}
