use super::*;
use maestro_common::contract::MAX_FALL_BACK_AFTER;
use serde_json::json;

fn raw(generation: u64) -> pb::Intent {
    pb::Intent {
        id: maestro_common::ids::intent_id("web", "north"),
        generation,
        service_name: "web".into(),
        order_id: format!("o-{generation}"),
        order_item_id: "1".into(),
        spec_id: "demo".into(),
        spec_version: "2.0".into(),
        sites: vec![],
        characteristics_json: json!({"replicas": 2}).to_string(),
        blueprint_templates_json: vec![
            json!({"kind": "ProcessDeployment", "metadata": {"name": "${service}"}}).to_string(),
        ],
        deleted: false,
        traceparent: String::new(),
        organisation: String::new(),
        rollout: None,
    }
}

fn previous(generation: u64) -> pb::PreviousSpec {
    pb::PreviousSpec {
        generation,
        order_id: format!("o-{generation}"),
        spec_id: "demo".into(),
        spec_version: "1.0".into(),
        characteristics_json: json!({"replicas": 1}).to_string(),
        blueprint_templates_json: vec![
            json!({"kind": "ProcessDeployment", "metadata": {"name": "${service}"}}).to_string(),
        ],
        traceparent: String::new(),
    }
}

fn rolling(sites: &[&str]) -> pb::Intent {
    pb::Intent {
        rollout: Some(pb::IntentRollout {
            step: 2,
            sites: sites.iter().map(ToString::to_string).collect(),
            previous: Some(previous(2)),
            fall_back_after: 5,
        }),
        ..raw(3)
    }
}

fn refused(p: pb::Intent) -> FieldError {
    Intent::try_from(p).expect_err("refused")
}

#[test]
fn a_rollout_is_validated_and_round_trips() {
    let p = rolling(&["a", "b"]);
    let i = Intent::try_from(p.clone()).unwrap();
    let r = i.rollout.as_ref().unwrap();
    assert_eq!((r.step, r.fall_back_after, r.sites.len()), (2, 5, 2));
    let prev = r.previous.as_ref().unwrap();
    assert_eq!((prev.generation, prev.spec_version.as_str()), (2, "1.0"));
    assert_eq!(prev.characteristics["replicas"], json!(1));
    assert_eq!(i.order(), (3, 2));
    let back = pb::Intent::from(&i);
    assert_eq!(back.rollout, p.rollout, "the proto form is what came in");
    assert_eq!(Intent::try_from(back).unwrap(), i);
    assert_eq!(Intent::try_from(raw(3)).unwrap().order(), (3, 0));
}

#[test]
fn each_refused_rollout_names_its_field() {
    let with = |f: &dyn Fn(&mut pb::IntentRollout)| {
        let mut p = rolling(&["a"]);
        f(p.rollout.as_mut().unwrap());
        p
    };
    let cases: Vec<(pb::Intent, &str)> = vec![
        (
            with(&|r| r.sites = vec!["a".into(), "Not A Name".into()]),
            "rollout.sites[1]",
        ),
        (
            with(&|r| r.sites = vec!["a".into(), "b".into(), "a".into()]),
            "rollout.sites[2]",
        ),
        (
            with(&|r| r.sites = (0..=MAX_SITES).map(|i| format!("s{i}")).collect()),
            "rollout.sites",
        ),
        (
            pb::Intent {
                sites: vec!["a".into(), "b".into()],
                ..with(&|r| r.sites = vec!["b".into(), "c".into()])
            },
            "rollout.sites[1]",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().generation = 0),
            "rollout.previous.generation",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().generation = 3),
            "rollout.previous.generation",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().generation = 9),
            "rollout.previous.generation",
        ),
        (
            pb::Intent {
                generation: 1,
                ..with(&|r| r.previous.as_mut().unwrap().generation = 1)
            },
            "rollout.previous.generation",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().order_id = "o\u{1b}[2J".into()),
            "rollout.previous.order_id",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().spec_id = "x".repeat(MAX_TEXT_LEN + 1)),
            "rollout.previous.spec_id",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().spec_version = "1\n0".into()),
            "rollout.previous.spec_version",
        ),
        (
            with(&|r| r.previous.as_mut().unwrap().characteristics_json = "[1]".into()),
            "rollout.previous.characteristics_json",
        ),
        (
            with(&|r| {
                r.previous.as_mut().unwrap().blueprint_templates_json =
                    vec!["{}".into(), "{not json".into()]
            }),
            "rollout.previous.blueprint_templates_json[1]",
        ),
        (
            with(&|r| {
                r.previous.as_mut().unwrap().blueprint_templates_json =
                    vec!["{}".into(); MAX_TEMPLATES + 1]
            }),
            "rollout.previous.blueprint_templates_json",
        ),
        (
            with(&|r| r.fall_back_after = MAX_FALL_BACK_AFTER + 1),
            "rollout.fall_back_after",
        ),
        (with(&|r| r.step = u64::MAX), "rollout.step"),
        (
            pb::Intent {
                deleted: true,
                ..rolling(&["a"])
            },
            "rollout",
        ),
    ];
    for (p, field) in cases {
        let e = refused(p);
        assert_eq!(e.field, field, "{e}");
    }
    let e = refused(pb::Intent {
        deleted: true,
        ..rolling(&["a"])
    });
    assert_eq!(e.reason, "not allowed on a deletion");
    let e = refused(pb::Intent {
        generation: 1,
        ..rolling(&["a"])
    });
    assert!(e.reason.contains("no previous generation"), "{e}");
}

#[test]
fn any_site_name_passes_when_the_intent_targets_every_site_of_the_domain() {
    let i = Intent::try_from(rolling(&["anywhere", "else"])).unwrap();
    assert_eq!(
        i.check_domain("north", &["a".to_string()]),
        Ok(()),
        "the domain's sites decide when rendering"
    );
    let targeted = Intent::try_from(pb::Intent {
        sites: vec!["a".into(), "b".into()],
        ..rolling(&["b"])
    })
    .unwrap();
    assert!(targeted.admits("b") && !targeted.admits("a"));
}

#[test]
fn each_site_desires_the_generation_the_rollout_gives_it() {
    let i = Intent::try_from(rolling(&["a"])).unwrap();
    assert_eq!(i.desired_generation("a"), Some(3));
    assert_eq!(i.desired_generation("b"), Some(2), "the previous spec");
    let mut new_service = i.clone();
    new_service.rollout.as_mut().unwrap().previous = None;
    assert_eq!(new_service.desired_generation("b"), None, "nothing");
    let plain = Intent::try_from(raw(3)).unwrap();
    assert_eq!(plain.desired_generation("b"), Some(3));
    let prev = i.previous_intent().unwrap();
    assert_eq!(
        (
            prev.generation,
            prev.order_id.as_str(),
            prev.spec_version.as_str()
        ),
        (2, "o-2", "1.0")
    );
    assert_eq!(
        (prev.id.as_str(), prev.rollout.is_none()),
        (i.id.as_str(), true)
    );
    assert_eq!(plain.previous_intent(), None);
}
