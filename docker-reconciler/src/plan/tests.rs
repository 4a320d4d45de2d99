use super::*;
use crate::runtime::Health;
use crate::spec::desired_containers;
use colony::model::Blueprint;
use serde_json::json;

fn desired(generation: i64, replicas: u32) -> Vec<DesiredContainer> {
    desired_image(generation, replicas, "img:1")
}

fn desired_image(generation: i64, replicas: u32, image: &str) -> Vec<DesiredContainer> {
    let mut bp = Blueprint::new(
        "DockerDeployment",
        "web",
        "site",
        json!({"replicas": replicas, "instances": [{"name": "app", "image": image}]}),
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
        health: None,
        health_log: String::new(),
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
fn another_template_is_replaced_removal_first() {
    let old = desired(1, 1);
    let new = desired_image(2, 1, "img:2");
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

#[test]
fn a_new_generation_with_the_same_template_touches_no_container() {
    let old = desired(1, 2);
    let running = [
        observed(&old[0], "a", ContainerState::Running),
        observed(&old[1], "b", ContainerState::Running),
    ];
    assert!(
        plan(&desired(2, 2), &running).is_empty(),
        "only the generation changed"
    );
    let up = plan(&desired(3, 3), &running);
    assert_eq!(creates(&up), ["web-app-2"]);
    assert_eq!(up.len(), 1, "scaling up adds one: {up:?}");
    // A container made before templates were is kept only at its own generation.
    let mut legacy = observed(&old[0], "a", ContainerState::Running);
    legacy.labels.remove(labels::TEMPLATE);
    assert!(plan(&desired(1, 1), std::slice::from_ref(&legacy)).is_empty());
    assert_eq!(removes(&plan(&desired(2, 1), &[legacy])).len(), 1);
}

#[test]
fn a_new_image_is_rolled_out_one_container_at_a_time() {
    let old = desired(1, 3);
    let new = desired_image(2, 3, "img:2");
    let mut live: Vec<ObservedContainer> = old
        .iter()
        .enumerate()
        .map(|(i, d)| observed(d, &format!("old{i}"), ContainerState::Running))
        .collect();
    let mut fewest_up = usize::MAX;
    for round in 0..10 {
        let actions = plan(&new, &live);
        if actions.is_empty() {
            break;
        }
        for a in actions {
            match a {
                Action::Remove { id, .. } => live.retain(|o| o.id != id),
                Action::Create(d) => {
                    fewest_up = fewest_up.min(live.len());
                    live.push(observed(
                        &d,
                        &format!("new{round}-{}", d.replica),
                        ContainerState::Running,
                    ));
                }
                Action::Start { .. } => panic!("nothing to start"),
            }
        }
    }
    assert!(plan(&new, &live).is_empty());
    assert!(live.iter().all(|o| o.image == "img:2") && live.len() == 3);
    assert_eq!(fewest_up, 2, "one container down at a time");
    // A down container uses the budget: nothing else is replaced in that round.
    let mut one_down: Vec<ObservedContainer> = old
        .iter()
        .enumerate()
        .map(|(i, d)| observed(d, &format!("o{i}"), ContainerState::Running))
        .collect();
    one_down[0].state = ContainerState::Exited;
    let a = plan(&new, &one_down);
    assert_eq!(removes(&a), [("o0", RemoveReason::OldGeneration)]);
    assert_eq!(creates(&a), ["web-app-0"]);
}

#[test]
fn a_new_container_that_is_not_healthy_yet_holds_the_rollout() {
    let old = desired(1, 2);
    let new = desired_image(2, 2, "img:2");
    // Slot 0 runs the new template but its health check has not passed; slot 1 is old.
    let mut live = vec![
        observed(&new[0], "new0", ContainerState::Running),
        observed(&old[1], "old1", ContainerState::Running),
    ];
    for health in [Health::Starting, Health::Unhealthy] {
        live[0].health = Some(health);
        assert!(
            plan(&new, &live).is_empty(),
            "{health:?}: the old container keeps running"
        );
        let status = crate::build_status(&new, &live);
        assert_eq!(status.running, 0, "{health:?} is not counted as running");
        assert_eq!(status.instances[0].extra["health"], health.as_str());
    }
    live[0].health = Some(Health::Healthy);
    assert_eq!(
        removes(&plan(&new, &live)),
        [("old1", RemoveReason::OldGeneration)]
    );
}

#[test]
fn rollout_settings_are_validated() {
    let spec = |rollout: serde_json::Value| {
        let bp = Blueprint::new(
            "DockerDeployment",
            "web",
            "site",
            json!({"instances": [{"name": "app", "image": "img"}], "rollout": rollout}),
        );
        desired_containers(&bp, "site", "host")
    };
    assert_eq!(
        spec(json!({"maxUnavailable": 2})).unwrap()[0].max_unavailable,
        2
    );
    assert!(
        spec(json!({"maxSurge": 1}))
            .unwrap_err()
            .contains("maxSurge")
    );
    assert!(
        spec(json!({"maxUnavailable": 0}))
            .unwrap_err()
            .contains("maxUnavailable")
    );
    assert!(
        spec(json!({"pause": true}))
            .unwrap_err()
            .contains("rollout.pause")
    );
}
