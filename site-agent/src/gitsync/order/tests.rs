use super::*;
use serde_json::json;

fn deps(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// The Arrowhead core: the database first, then the service registry, then the rest.
fn arrowhead() -> Vec<(&'static str, Vec<String>)> {
    let both = ["arrowhead-mysql", "serviceregistry"];
    vec![
        ("arrowhead-mysql", vec![]),
        ("serviceregistry", deps(&["arrowhead-mysql"])),
        ("authorization", deps(&both)),
        (
            "orchestrator",
            deps(&["arrowhead-mysql", "serviceregistry", "authorization"]),
        ),
        ("eventhandler", deps(&both)),
        (
            "gatekeeper",
            deps(&["arrowhead-mysql", "serviceregistry", "orchestrator"]),
        ),
        ("gateway", deps(&both)),
    ]
}

fn desired_from(
    files: &[(&str, Vec<String>)],
    colony: &BTreeMap<String, ColonyEntry>,
) -> BTreeMap<String, DesiredEntry> {
    files
        .iter()
        .map(|(n, d)| {
            let entry = DesiredEntry {
                depends_on: d.clone(),
                changed: !colony.contains_key(*n),
            };
            ((*n).to_string(), entry)
        })
        .collect()
}

/// Runs sync rounds until nothing changes; between rounds every blueprint in the colony
/// converges (the reconciler). Returns what each round applied.
fn rounds_until_done(files: &[(&str, Vec<String>)]) -> Vec<Vec<String>> {
    let mut colony = BTreeMap::new();
    let mut batches = Vec::new();
    for _ in 0..20 {
        let desired = desired_from(files, &colony);
        let plan = plan_order(&desired, &colony, &BTreeSet::new(), &BTreeMap::new());
        if plan.apply.is_empty() {
            assert!(plan.complete(), "stuck: {plan:?}");
            return batches;
        }
        for name in &plan.apply {
            let entry = ColonyEntry {
                depends_on: desired[name].depends_on.clone(),
                converged: false,
            };
            colony.insert(name.clone(), entry);
        }
        batches.push(plan.apply.clone());
        // A round right after applying sees the new blueprints unconverged.
        let desired = desired_from(files, &colony);
        let again = plan_order(&desired, &colony, &BTreeSet::new(), &BTreeMap::new());
        assert!(again.apply.is_empty(), "{again:?}");
        assert!(
            again
                .waiting
                .iter()
                .all(|w| matches!(w.reason, NotReady::NotConverged | NotReady::Changing)),
            "{again:?}"
        );
        for c in colony.values_mut() {
            c.converged = true;
        }
    }
    panic!("no fixpoint");
}

#[test]
fn arrowhead_core_is_added_in_dependency_order() {
    let batches = rounds_until_done(&arrowhead());
    assert_eq!(
        batches,
        vec![
            deps(&["arrowhead-mysql"]),
            deps(&["serviceregistry"]),
            deps(&["authorization", "eventhandler", "gateway"]),
            deps(&["orchestrator"]),
            deps(&["gatekeeper"]),
        ]
    );
}

#[test]
fn first_round_names_what_everything_waits_for() {
    let files = arrowhead();
    let plan = plan_order(
        &desired_from(&files, &BTreeMap::new()),
        &BTreeMap::new(),
        &BTreeSet::new(),
        &BTreeMap::new(),
    );
    assert_eq!(plan.apply, deps(&["arrowhead-mysql"]));
    let sr = plan
        .waiting
        .iter()
        .find(|w| w.name == "serviceregistry")
        .unwrap();
    assert_eq!(
        (sr.dependency.as_str(), sr.reason),
        ("arrowhead-mysql", NotReady::Changing)
    );
    assert_eq!(plan.waiting.len(), 6);
}

#[test]
fn missing_dependency_waits_and_unrelated_blueprints_proceed() {
    let desired = BTreeMap::from([
        (
            "app".to_string(),
            DesiredEntry {
                depends_on: deps(&["db"]),
                changed: true,
            },
        ),
        (
            "other".to_string(),
            DesiredEntry {
                depends_on: vec![],
                changed: true,
            },
        ),
    ]);
    let plan = plan_order(
        &desired,
        &BTreeMap::new(),
        &BTreeSet::new(),
        &BTreeMap::new(),
    );
    assert_eq!(plan.apply, deps(&["other"]));
    assert_eq!(
        plan.waiting,
        vec![Waiting {
            name: "app".into(),
            dependency: "db".into(),
            reason: NotReady::Missing
        }]
    );
    // A converged blueprint not in the files (e.g. added by hand) satisfies the dependency.
    let colony = BTreeMap::from([(
        "db".to_string(),
        ColonyEntry {
            depends_on: vec![],
            converged: true,
        },
    )]);
    let plan = plan_order(&desired, &colony, &BTreeSet::new(), &BTreeMap::new());
    assert_eq!(plan.apply, deps(&["app", "other"]));
    assert!(plan.complete());
}

#[test]
fn an_update_waits_while_its_dependency_changes() {
    let colony: BTreeMap<String, ColonyEntry> = arrowhead()
        .into_iter()
        .map(|(n, d)| {
            let entry = ColonyEntry {
                depends_on: d,
                converged: true,
            };
            (n.to_string(), entry)
        })
        .collect();
    // Only the gateway changed: applied at once.
    let mut desired = desired_from(&arrowhead(), &colony);
    desired.get_mut("gateway").unwrap().changed = true;
    let plan = plan_order(&desired, &colony, &BTreeSet::new(), &BTreeMap::new());
    assert_eq!(plan.apply, deps(&["gateway"]));
    // The registry changes too (new image tag for all): the gateway waits for it.
    desired.get_mut("serviceregistry").unwrap().changed = true;
    let plan = plan_order(&desired, &colony, &BTreeSet::new(), &BTreeMap::new());
    assert_eq!(plan.apply, deps(&["serviceregistry"]));
    assert_eq!(plan.waiting[0].reason, NotReady::Changing);
}

#[test]
fn removal_goes_in_reverse_dependency_order() {
    let files = arrowhead();
    let mut colony: BTreeMap<String, ColonyEntry> = files
        .iter()
        .map(|(n, d)| {
            let entry = ColonyEntry {
                depends_on: d.clone(),
                converged: true,
            };
            ((*n).to_string(), entry)
        })
        .collect();
    let mut batches = Vec::new();
    for _ in 0..20 {
        if colony.is_empty() {
            break;
        }
        let removable: BTreeSet<String> = colony.keys().cloned().collect();
        let plan = plan_order(&BTreeMap::new(), &colony, &removable, &BTreeMap::new());
        assert!(!plan.remove.is_empty(), "stuck: {plan:?}");
        // While their cleanup runs, the removed ones still hold their dependencies.
        let cleaning: BTreeMap<String, Vec<String>> = plan
            .remove
            .iter()
            .map(|n| (n.clone(), colony.remove(n).unwrap().depends_on))
            .collect();
        let removable: BTreeSet<String> = colony.keys().cloned().collect();
        let held = plan_order(&BTreeMap::new(), &colony, &removable, &cleaning);
        assert!(
            held.remove
                .iter()
                .all(|n| !cleaning.values().any(|d| d.contains(n))),
            "{held:?}"
        );
        batches.push(plan.remove);
    }
    assert_eq!(
        batches,
        vec![
            deps(&["eventhandler", "gatekeeper", "gateway"]),
            deps(&["orchestrator"]),
            deps(&["authorization"]),
            deps(&["serviceregistry"]),
            deps(&["arrowhead-mysql"]),
        ]
    );
}

#[test]
fn a_kept_dependent_holds_its_dependency() {
    let colony = BTreeMap::from([
        (
            "db".to_string(),
            ColonyEntry {
                depends_on: vec![],
                converged: true,
            },
        ),
        (
            "app".to_string(),
            ColonyEntry {
                depends_on: deps(&["db"]),
                converged: true,
            },
        ),
    ]);
    let desired = BTreeMap::from([(
        "app".to_string(),
        DesiredEntry {
            depends_on: deps(&["db"]),
            changed: false,
        },
    )]);
    let removable = BTreeSet::from(["db".to_string()]);
    let plan = plan_order(&desired, &colony, &removable, &BTreeMap::new());
    assert!(plan.remove.is_empty());
    assert_eq!(
        plan.held,
        vec![Held {
            name: "db".into(),
            dependent: "app".into()
        }]
    );
    assert!(!plan.complete());
}

#[test]
fn cycles_are_reported_not_applied() {
    let desired = BTreeMap::from([
        (
            "a".to_string(),
            DesiredEntry {
                depends_on: deps(&["b"]),
                changed: true,
            },
        ),
        (
            "b".to_string(),
            DesiredEntry {
                depends_on: deps(&["a"]),
                changed: true,
            },
        ),
    ]);
    let plan = plan_order(
        &desired,
        &BTreeMap::new(),
        &BTreeSet::new(),
        &BTreeMap::new(),
    );
    assert!(plan.apply.is_empty());
    assert!(plan.waiting.iter().all(|w| w.reason == NotReady::Cycle));
}

#[test]
fn depends_on_annotation_is_parsed() {
    let mut bp = Blueprint::new("DockerDeployment", "gateway", "s", json!({}));
    assert!(dependencies(&bp).is_empty());
    bp.metadata.annotations.insert(
        DEPENDS_ON.into(),
        " arrowhead-mysql, serviceregistry,,gateway,serviceregistry ".into(),
    );
    assert_eq!(
        dependencies(&bp),
        deps(&["arrowhead-mysql", "serviceregistry"])
    );
}
