use super::*;
use crate::translator::RenderedBlueprint;

fn name(s: &str) -> ResourceName {
    ResourceName::parse("n", s).unwrap()
}

fn intent(generation: u64, deleted: bool) -> Intent {
    Intent {
        id: "i-1".into(),
        generation,
        service_name: name("web"),
        order_id: "o".into(),
        order_item_id: "1".into(),
        spec_id: String::new(),
        spec_version: String::new(),
        sites: vec![],
        characteristics: serde_json::Map::new(),
        blueprint_templates: vec![],
        deleted,
        traceparent: String::new(),
    }
}

fn rendered(generation: u64, deleted: bool, sites: &[&str]) -> RenderedIntent {
    RenderedIntent {
        generation,
        deleted,
        blueprints: sites
            .iter()
            .map(|s| RenderedBlueprint {
                site: name(s),
                kind: name("ProcessDeployment"),
                name: name("web"),
                content: String::new(),
            })
            .collect(),
        commit: Some("abc".into()),
    }
}

fn seen(generation: u64, converged: bool, removed: bool) -> ObservedBlueprint {
    ObservedBlueprint {
        generation,
        converged,
        removed,
        message: String::new(),
        sequence: 1,
    }
}

fn run(
    intent: &Intent,
    r: Option<&RenderedIntent>,
    observed: &[(&str, ObservedBlueprint)],
    error: Option<&str>,
) -> IntentStatus {
    let sites = vec![name("s1"), name("s2")];
    let observed: BTreeMap<_, _> = observed
        .iter()
        .map(|(s, o)| ((s.to_string(), "web".to_string()), o.clone()))
        .collect();
    let heard = BTreeMap::from([("s1".to_string(), 1234_i64)]);
    compute(&StatusInputs {
        domain: "d",
        intent,
        sites: &sites,
        rendered: r,
        observed: &observed,
        last_heard: &heard,
        error,
    })
}

#[test]
fn converged_everywhere_at_the_generation_is_active() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(2, true, false)), ("s2", seen(2, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Active);
    assert_eq!((s.ready, s.total, s.observed_generation), (2, 2, 2));
    assert_eq!(s.commit, "abc");
    assert_eq!(s.sites[0].last_heard, Some(1234));
    assert_eq!(s.sites[1].last_heard, None);
}

#[test]
fn older_generation_or_missing_site_is_reserved() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(2, true, false)), ("s2", seen(1, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved);
    assert_eq!((s.ready, s.total, s.observed_generation), (1, 2, 1));
    assert_eq!(s.sites[1].observed_generation, 1);
    let s = run(&i, Some(&r), &[("s1", seen(2, true, false))], None);
    assert_eq!((s.state, s.observed_generation), (IntentState::Reserved, 0));
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(2, false, false)), ("s2", seen(2, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved, "not converged");
}

#[test]
fn unpublished_generation_is_never_active() {
    let i = intent(3, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(3, true, false)), ("s2", seen(3, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved);
    let mut uncommitted = rendered(3, false, &["s1", "s2"]);
    uncommitted.commit = None;
    let s = run(
        &i,
        Some(&uncommitted),
        &[("s1", seen(3, true, false)), ("s2", seen(3, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved);
}

#[test]
fn deleted_and_removed_everywhere_is_terminated() {
    let i = intent(4, true);
    let r = rendered(4, true, &["s1", "s2"]);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(3, false, true)), ("s2", seen(3, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(3, false, true)), ("s2", seen(3, false, true))],
        None,
    );
    assert_eq!(
        (s.state, s.observed_generation),
        (IntentState::Terminated, 4)
    );
}

#[test]
fn a_reconcile_error_is_inactive_with_its_message() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(2, true, false)), ("s2", seen(2, true, false))],
        Some("conflict"),
    );
    assert_eq!(
        (s.state, s.message.as_str()),
        (IntentState::Inactive, "conflict")
    );
}
