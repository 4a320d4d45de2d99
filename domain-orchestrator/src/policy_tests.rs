use super::*;
use crate::translator::render_intent;
use serde_json::json;

fn name(n: &str) -> ResourceName {
    ResourceName::parse("s", n).unwrap()
}

fn intent(spec: Value, replicas: u64, sites: &[&str]) -> Intent {
    Intent {
        id: maestro_common::ids::intent_id("web", "north"),
        generation: 1,
        service_name: name("web"),
        order_id: "o-1".into(),
        order_item_id: "1".into(),
        spec_id: "demo".into(),
        spec_version: "1.0".into(),
        sites: sites.iter().map(|s| name(s)).collect(),
        characteristics: json!({"replicas": replicas}).as_object().unwrap().clone(),
        blueprint_templates: vec![spec],
        deleted: false,
        traceparent: String::new(),
        organisation: String::new(),
        rollout: None,
    }
}

fn process(command: &str) -> Value {
    json!({"kind": "ProcessDeployment", "metadata": {"name": "${service}"},
           "spec": {"command": command, "args": ["x"], "replicas": "${replicas}"}})
}

fn container(image: &str) -> Value {
    json!({"kind": "DockerDeployment", "metadata": {"name": "${service}"},
           "spec": {"replicas": "${replicas}", "instances": [{"name": "a", "type": "container", "image": image}]}})
}

fn check(policy: &Policy, intent: &Intent) -> Result<(), Refusal> {
    let sites = if intent.sites.is_empty() {
        vec![name("s1"), name("s2")]
    } else {
        intent.sites.clone()
    };
    let rendered = render_intent(intent, "north", &sites).unwrap();
    policy.check(intent, &rendered)
}

#[test]
fn an_empty_policy_takes_anything() {
    let p = Policy::default();
    assert_eq!(p.validate("policy"), Ok(()));
    assert_eq!(check(&p, &intent(process("/bin/sleep"), 9, &[])), Ok(()));
    assert_eq!(check(&p, &intent(container("anything:1"), 9, &[])), Ok(()));
}

#[test]
fn each_rule_refuses_with_its_name_and_the_reason() {
    let specs = Policy {
        specs: vec!["web-container".into()],
        ..Policy::default()
    };
    let e = check(&specs, &intent(process("/bin/sleep"), 1, &[])).unwrap_err();
    assert_eq!(e.rule, "specs");
    assert!(e.reason.contains("\"demo\""), "{e}");

    let replicas = Policy {
        max_replicas: Some(1),
        ..Policy::default()
    };
    assert_eq!(
        check(&replicas, &intent(process("/bin/sleep"), 1, &[])),
        Ok(())
    );
    let e = check(&replicas, &intent(process("/bin/sleep"), 2, &[])).unwrap_err();
    assert_eq!(e.rule, "max_replicas");
    assert_eq!(
        e.reason,
        "blueprint web at site s1 asks for 2 replicas, at most 1"
    );
    assert_eq!(
        e.to_string(),
        "refused by the domain's policy (max_replicas): blueprint web at site s1 asks for 2 replicas, at most 1"
    );

    let dirs = Policy {
        command_dirs: vec!["/opt/app".into()],
        ..Policy::default()
    };
    assert_eq!(
        check(&dirs, &intent(process("/opt/app/bin/run"), 1, &[])),
        Ok(())
    );
    for outside in [
        "/bin/sh",
        "/opt/apps/run",
        "/opt/app/../../bin/sh",
        "run",
        "/opt/app/",
    ] {
        let e = check(&dirs, &intent(process(outside), 1, &[])).unwrap_err();
        assert_eq!(e.rule, "command_dirs", "{outside}");
    }

    let images = Policy {
        image_prefixes: vec![
            "registry.plant.example/".into(),
            "docker.io/library/".into(),
        ],
        ..Policy::default()
    };
    for ok in [
        "registry.plant.example/web:2",
        "mysql:5.7",
        "docker.io/library/httpd:2.4",
    ] {
        assert_eq!(
            check(&images, &intent(container(ok), 1, &[])),
            Ok(()),
            "{ok}"
        );
    }
    for bad in [
        "grafana/grafana:11",
        "evil.example/registry.plant.example/web",
        "ghcr.io/x/y",
    ] {
        let e = check(&images, &intent(container(bad), 1, &[])).unwrap_err();
        assert_eq!(e.rule, "image_prefixes", "{bad}");
    }

    let sites = Policy {
        sites: vec!["s1".into()],
        ..Policy::default()
    };
    assert_eq!(
        check(&sites, &intent(process("/bin/true"), 1, &["s1"])),
        Ok(())
    );
    assert_eq!(
        check(&sites, &intent(process("/bin/true"), 1, &["s2"]))
            .unwrap_err()
            .rule,
        "sites"
    );
    let e = check(&sites, &intent(process("/bin/true"), 1, &[])).unwrap_err();
    assert!(e.reason.contains("named sites only"), "{e}");
}

#[test]
fn a_policy_with_bad_entries_is_refused_naming_the_key() {
    let p = Policy {
        command_dirs: vec!["opt/app".into()],
        ..Policy::default()
    };
    assert_eq!(
        p.validate("policy").unwrap_err().field,
        "policy.command_dirs[0]"
    );
    let p = Policy {
        sites: vec!["no such/site".into()],
        ..Policy::default()
    };
    assert_eq!(p.validate("policy").unwrap_err().field, "policy.sites[0]");
    let p = Policy {
        image_prefixes: vec![String::new()],
        ..Policy::default()
    };
    assert_eq!(
        p.validate("policy").unwrap_err().field,
        "policy.image_prefixes[0]"
    );
}

#[test]
fn only_the_listed_organisations_may_order() {
    let policy = Policy {
        organisations: vec!["acme".into()],
        ..Policy::default()
    };
    let mut i = intent(process("/bin/true"), 1, &[]);
    let e = check(&policy, &i).unwrap_err();
    assert_eq!(e.rule, "organisations");
    assert!(e.reason.contains("no named organisation"), "{e}");
    i.organisation = "globex".into();
    let e = check(&policy, &i).unwrap_err();
    assert_eq!(
        e.reason,
        "organisation globex may not order here (only acme)"
    );
    i.organisation = "acme".into();
    assert!(check(&policy, &i).is_ok());
    let bad = Policy {
        organisations: vec!["a/b".into()],
        ..Policy::default()
    };
    assert_eq!(
        bad.validate("policy").unwrap_err().field,
        "policy.organisations[0]"
    );
}
