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
        organisation: String::new(),
        rollout: None,
    }
}

fn rendered(generation: u64, deleted: bool, sites: &[&str]) -> RenderedIntent {
    RenderedIntent {
        generation,
        step: 0,
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
        observed_at: 1000 + i64::try_from(generation).unwrap(),
        refused: None,
        unhealthy: None,
        fell_back: None,
    }
}

fn run(
    intent: &Intent,
    r: Option<&RenderedIntent>,
    observed: &[(&str, ObservedBlueprint)],
    error: Option<&str>,
) -> IntentStatus {
    let never = Reachability {
        now: 1234,
        applied_at: 0,
        after_ms: 0,
    };
    run_at(intent, r, observed, error, never)
}

fn run_at(
    intent: &Intent,
    r: Option<&RenderedIntent>,
    observed: &[(&str, ObservedBlueprint)],
    error: Option<&str>,
    reachability: Reachability,
) -> IntentStatus {
    run_with_syncs(intent, r, observed, error, reachability, &BTreeMap::new())
}

fn run_with_syncs(
    intent: &Intent,
    r: Option<&RenderedIntent>,
    observed: &[(&str, ObservedBlueprint)],
    error: Option<&str>,
    reachability: Reachability,
    syncs: &BTreeMap<String, SiteSyncView>,
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
        syncs,
        error,
        retrying: None,
        held: None,
        reachability,
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

fn synced(commit: &str, has_published: bool, error: &str) -> SiteSyncView {
    SiteSyncView {
        sync: SiteSync {
            commit: commit.into(),
            synced_at_ms: Some(1000),
            error: error.into(),
            failing_since_ms: (!error.is_empty()).then_some(900),
            ..SiteSync::default()
        },
        has_published,
    }
}

#[test]
fn a_delete_completes_at_sites_that_never_reported_the_blueprint() {
    let i = intent(4, true);
    let r = rendered(4, true, &["s1", "s2"]);
    let never = at(0, 0);
    // s1 removed it; s2 never reported it and has not applied the deletion's commit yet.
    let removed_at_s1 = [("s1", seen(3, false, true))];
    let syncs = BTreeMap::from([("s2".to_string(), synced("old", false, ""))]);
    let s = run_with_syncs(&i, Some(&r), &removed_at_s1, None, never, &syncs);
    assert_eq!(s.state, IntentState::Reserved, "s2 may still hold it");
    // s2 applied the deletion's commit (or a later one): nothing is left there.
    let syncs = BTreeMap::from([("s2".to_string(), synced("abc", true, ""))]);
    let s = run_with_syncs(&i, Some(&r), &removed_at_s1, None, never, &syncs);
    assert_eq!(s.state, IntentState::Terminated);
    // A site that did report the blueprint must report its removal.
    let reported = [("s1", seen(3, false, true)), ("s2", seen(3, true, false))];
    let s = run_with_syncs(&i, Some(&r), &reported, None, never, &syncs);
    assert_eq!(s.state, IntentState::Reserved);
    // An intent that is not deleted is never ready by the commit alone.
    let live = intent(4, false);
    let r = rendered(4, false, &["s1", "s2"]);
    let both = BTreeMap::from([
        ("s1".to_string(), synced("abc", true, "")),
        ("s2".to_string(), synced("abc", true, "")),
    ]);
    let s = run_with_syncs(&live, Some(&r), &[], None, never, &both);
    assert_eq!(s.ready, 0);
}

#[test]
fn a_failing_sync_is_a_reason_of_its_site() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let syncs = BTreeMap::from([(
        "s2".to_string(),
        synced("0123456789abcdef", false, "git fetch failed: timed out"),
    )]);
    let s = run_with_syncs(
        &i,
        Some(&r),
        &[("s1", seen(2, true, false))],
        None,
        at(0, 0),
        &syncs,
    );
    assert_eq!(s.sites[0].sync_failing, None);
    let reasons = s.sites[1].reasons("d");
    assert_eq!(
        reasons[0],
        StatusReason::SyncFailing {
            site: "s2".into(),
            error: "git fetch failed: timed out".into(),
            since_ms: Some(900),
            commit: "0123456789abcdef".into(),
        }
    );
    assert_eq!(
        reasons[0].to_string(),
        "site s2: git fetch failed: timed out (still running 0123456789ab)"
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
    assert_eq!(s.state, IntentState::Inactive);
    assert_eq!(
        s.reasons,
        vec![StatusReason::Failed {
            domain: String::new(),
            error: "conflict".into()
        }]
    );
}

#[test]
fn a_transient_failure_keeps_the_state_and_says_it_retries() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let sites = vec![name("s1"), name("s2")];
    let heard = BTreeMap::new();
    let s = compute(&StatusInputs {
        domain: "d",
        intent: &i,
        sites: &sites,
        rendered: Some(&r),
        observed: &BTreeMap::new(),
        last_heard: &heard,
        syncs: &BTreeMap::new(),
        error: None,
        retrying: Some(Retry {
            error: "git push: locked",
            attempt: 3,
            next_attempt_ms: Some(5_000),
        }),
        held: None,
        reachability: at(0, 0),
    });
    assert_eq!(s.state, IntentState::Reserved);
    assert_eq!(
        s.reasons,
        vec![
            StatusReason::WaitingForSites {
                waiting: 2,
                total: 2
            },
            StatusReason::Retrying {
                domain: String::new(),
                error: "git push: locked".into(),
                attempt: 3,
                next_attempt_ms: Some(5_000),
            }
        ]
    );
    let p = s.to_proto(0);
    assert_eq!(p.reasons.len(), 2);
    assert_eq!(
        p.message,
        "waiting for 2 of 2 sites; retrying after: git push: locked (attempt 3)"
    );
}

/// s1 was last heard at 1234; the intent was applied at `applied_at`; threshold 1000 ms.
fn at(now: i64, applied_at: i64) -> Reachability {
    Reachability {
        now,
        applied_at,
        after_ms: 1000,
    }
}

#[test]
fn a_silent_site_is_unreachable_and_keeps_its_last_known_counts() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let both = [("s1", seen(2, true, false)), ("s2", seen(2, true, false))];
    let s = run_at(&i, Some(&r), &both, None, at(2234, 0));
    assert!(
        !s.sites[0].unreachable,
        "exactly the threshold is not silence"
    );
    let s = run_at(&i, Some(&r), &both, None, at(2235, 0));
    assert!(s.sites[0].unreachable);
    assert_eq!((s.sites[0].ready, s.sites[0].total), (1, 1), "last known");
    assert_eq!(s.sites[0].observed_at, Some(1002));
    assert_eq!(
        s.state,
        IntentState::Active,
        "the computed state stays; maestro holds the item pending on the flag"
    );
    assert_eq!(
        s.reasons,
        vec![StatusReason::SitesUnreachable {
            unreachable: 2,
            total: 2
        }]
    );
    let p = s.to_proto(2235);
    assert!(p.sites[0].unreachable);
    assert_eq!(
        p.sites[0].observed_at,
        Some(maestro_common::time::timestamp(1002))
    );
    let typed = |i: usize| {
        maestro_common::status::reasons_from_proto("reasons", p.sites[i].reasons.clone()).unwrap()
    };
    assert_eq!(
        typed(0),
        vec![StatusReason::Unreachable {
            domain: "d".into(),
            site: Some("s1".into()),
            last_heard_ms: Some(1234),
        }],
        "a timestamp, not an age"
    );
    assert_eq!(
        typed(1),
        vec![StatusReason::Unreachable {
            domain: "d".into(),
            site: Some("s2".into()),
            last_heard_ms: None,
        }]
    );
    assert_eq!(p.sites[0].message, "site s1 in d unreachable");
    assert_eq!(
        s.to_proto(2235),
        s.to_proto(2235),
        "the same status reads the same whenever it is read"
    );
}

#[test]
fn a_site_not_ready_names_its_first_pending_blueprint() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let mut pulling = seen(1, false, false);
    pulling.message = "pulling image".into();
    let s = run(&i, Some(&r), &[("s1", pulling)], None);
    assert_eq!(
        s.sites[0].pending,
        Some(StatusReason::BlueprintPending {
            blueprint: "web".into(),
            generation: Some(1),
            message: "pulling image".into(),
        })
    );
    assert_eq!(
        s.sites[1].reasons("d"),
        vec![StatusReason::BlueprintPending {
            blueprint: "web".into(),
            generation: None,
            message: String::new(),
        }]
    );
    assert_eq!(s.to_proto(0).sites[1].message, "web: no status yet");
}

#[test]
fn a_long_site_message_is_cut_in_the_status() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let mut flooding = seen(1, false, false);
    flooding.message = "x".repeat(64 * 1024);
    let s = run(&i, Some(&r), &[("s1", flooding)], None);
    let Some(StatusReason::BlueprintPending { message, .. }) = &s.sites[0].pending else {
        panic!("a pending blueprint: {:?}", s.sites[0].pending);
    };
    assert!(message.len() <= MAX_SITE_MESSAGE_BYTES, "{}", message.len());
    assert!(message.ends_with('…'));
    assert!(s.to_proto(0).sites[0].message.len() < 2 * MAX_SITE_MESSAGE_BYTES);
}

#[test]
fn a_site_never_heard_gets_the_threshold_from_the_apply_time() {
    let i = intent(1, false);
    let r = rendered(1, false, &["s1", "s2"]);
    // s2 has never been heard; the intent was applied at 5000.
    let s = run_at(&i, Some(&r), &[], None, at(5900, 5000));
    assert!(!s.sites[1].unreachable);
    assert!(
        !s.sites[0].unreachable,
        "s1 heard before the apply: grace too"
    );
    let s = run_at(&i, Some(&r), &[], None, at(6001, 5000));
    assert!(s.sites[1].unreachable && s.sites[0].unreachable);
    assert_eq!(s.state, IntentState::Reserved);
    assert_eq!(
        s.reasons,
        vec![
            StatusReason::WaitingForSites {
                waiting: 2,
                total: 2
            },
            StatusReason::SitesUnreachable {
                unreachable: 2,
                total: 2
            }
        ]
    );
}

#[test]
fn reachability_differs_only_on_a_flip() {
    let i = intent(1, false);
    let r = rendered(1, false, &["s1", "s2"]);
    let a = run_at(&i, Some(&r), &[], None, at(1500, 0));
    let mut later = run_at(&i, Some(&r), &[], None, at(1600, 0));
    assert!(!a.reachability_differs(&later));
    later.sites[0].last_heard = Some(1550);
    assert!(
        !a.reachability_differs(&later),
        "a newer record alone is no flip"
    );
    let b = run_at(&i, Some(&r), &[], None, at(9000, 0));
    assert!(a.reachability_differs(&b));
}

#[test]
fn a_zero_threshold_disables_unreachability() {
    let r = Reachability {
        now: i64::MAX,
        applied_at: 0,
        after_ms: 0,
    };
    assert!(!r.unreachable(None));
    assert!(!r.unreachable(Some(0)));
}

#[test]
fn a_site_refusing_the_spec_of_the_generation_makes_the_intent_inactive() {
    let i = intent(2, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let refused = |generation| ObservedBlueprint {
        message: "invalid spec: spec.replicas: at most 256".into(),
        refused: Some("spec.replicas: at most 256".into()),
        ..seen(generation, false, false)
    };
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(2, true, false)), ("s2", refused(2))],
        None,
    );
    assert_eq!(s.state, IntentState::Inactive);
    assert_eq!(
        s.reasons,
        vec![StatusReason::Failed {
            domain: String::new(),
            error: "site s2 refused blueprint web: spec.replicas: at most 256".into()
        }]
    );
    // A refusal of an older generation's spec does not fail the new one: it is still pending.
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(2, true, false)), ("s2", refused(1))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved);
    // Nor a delete: removing a refused blueprint is not refused.
    let d = intent(2, true);
    let s = run(
        &d,
        Some(&rendered(2, true, &["s1", "s2"])),
        &[("s2", refused(2))],
        None,
    );
    assert_ne!(s.state, IntentState::Inactive);
}

#[test]
fn an_intent_held_for_the_maintenance_window_says_when_it_opens() {
    let i = intent(3, false);
    let r = rendered(2, false, &["s1", "s2"]);
    let sites = vec![name("s1"), name("s2")];
    let heard = BTreeMap::new();
    let s = compute(&StatusInputs {
        domain: "d",
        intent: &i,
        sites: &sites,
        rendered: Some(&r),
        observed: &BTreeMap::new(),
        last_heard: &heard,
        syncs: &BTreeMap::new(),
        error: None,
        retrying: None,
        held: Some(Some(1_796_162_400_000)),
        reachability: at(0, 0),
    });
    assert_eq!(s.state, IntentState::Reserved);
    assert_eq!(
        s.reasons,
        [StatusReason::MaintenanceWindow {
            opens_at_ms: Some(1_796_162_400_000)
        }]
    );
    assert_eq!(
        s.to_proto(0).message,
        "waiting for the domain's maintenance window (opens 2026-12-01T22:00:00+00:00)"
    );
}

mod rollout;
