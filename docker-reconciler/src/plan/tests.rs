use super::*;
use crate::spec::desired_containers;
use colony::model::Blueprint;
use serde_json::json;

fn desired(generation: i64, replicas: u32) -> Vec<DesiredContainer> {
    let mut bp = Blueprint::new(
        "DockerDeployment",
        "web",
        "site",
        json!({"replicas": replicas, "instances": [{"name": "app", "image": "img:1"}]}),
    );
    bp.metadata.generation = generation;
    desired_containers(&bp, "site", "host").unwrap()
}

fn observed(d: &DesiredContainer, id: &str, state: ContainerState) -> ObservedContainer {
    ObservedContainer {
        id: id.into(),
        name: d.name.clone(),
        image: d.image.clone(),
        state,
        status: String::new(),
        labels: d.labels(),
    }
}

fn creates(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Create(_)))
        .map(Action::name)
        .collect()
}

fn removes(actions: &[Action]) -> Vec<(&str, RemoveReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { id, reason, .. } => Some((id.as_str(), *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn nothing_observed_creates_every_replica() {
    let d = desired(1, 2);
    let a = plan(&d, &[]);
    assert_eq!(creates(&a), ["web-app-0", "web-app-1"]);
    assert_eq!(a.len(), 2);
}

#[test]
fn converged_is_a_no_op() {
    let d = desired(1, 2);
    let o = [
        observed(&d[0], "a", ContainerState::Running),
        observed(&d[1], "b", ContainerState::Running),
    ];
    assert!(plan(&d, &o).is_empty());
}

#[test]
fn older_generation_is_replaced_removal_first() {
    let old = desired(1, 1);
    let new = desired(2, 1);
    let a = plan(&new, &[observed(&old[0], "a", ContainerState::Running)]);
    assert_eq!(
        a[0],
        Action::Remove {
            id: "a".into(),
            name: "web-app-0".into(),
            reason: RemoveReason::OldGeneration
        }
    );
    assert_eq!(creates(&a), ["web-app-0"]);
    match &a[1] {
        Action::Create(c) => assert_eq!(c.generation, 2),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn exited_is_started_and_dead_is_recreated() {
    let d = desired(1, 2);
    let o = [
        observed(&d[0], "a", ContainerState::Exited),
        observed(&d[1], "b", ContainerState::Dead),
    ];
    let a = plan(&d, &o);
    assert_eq!(removes(&a), [("b", RemoveReason::Unrecoverable)]);
    assert!(a.contains(&Action::Start {
        id: "a".into(),
        name: "web-app-0".into()
    }));
    assert_eq!(creates(&a), ["web-app-1"]);
}

#[test]
fn scale_down_removes_high_replicas_and_scale_up_adds() {
    let three = desired(1, 3);
    let one = desired(1, 1);
    let o: Vec<_> = three
        .iter()
        .enumerate()
        .map(|(i, d)| observed(d, &format!("c{i}"), ContainerState::Running))
        .collect();
    let a = plan(&one, &o);
    assert_eq!(
        removes(&a),
        [
            ("c1", RemoveReason::NotInSpec),
            ("c2", RemoveReason::NotInSpec)
        ]
    );
    assert!(creates(&a).is_empty());
    let a = plan(&three, &o[..1]);
    assert_eq!(creates(&a), ["web-app-1", "web-app-2"]);
    assert!(plan(&[], &o).len() == 3, "scale to zero removes all");
}

#[test]
fn strays_with_managed_labels_are_removed() {
    let d = desired(1, 1);
    let mut stray = observed(&d[0], "s", ContainerState::Running);
    stray.name = "web-by-hand".into();
    let mut wrong = observed(&d[0], "w", ContainerState::Running);
    wrong.labels.insert(labels::REPLICA.into(), "7".into());
    let a = plan(&d, &[stray, wrong]);
    assert_eq!(
        removes(&a),
        [
            ("w", RemoveReason::LabelMismatch),
            ("s", RemoveReason::NotInSpec)
        ]
    );
    assert_eq!(creates(&a), ["web-app-0"]);
}

#[test]
fn duplicates_keep_the_running_one() {
    let d = desired(1, 1);
    let o = [
        observed(&d[0], "x-exited", ContainerState::Exited),
        observed(&d[0], "y-running", ContainerState::Running),
    ];
    let a = plan(&d, &o);
    assert_eq!(removes(&a), [("x-exited", RemoveReason::NotInSpec)]);
    assert_eq!(a.len(), 1);
}
