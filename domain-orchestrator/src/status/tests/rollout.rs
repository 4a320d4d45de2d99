//! Status during a rollout: each site judged at the generation it is to run, and the health
//! verdicts and local pauses sites report.

use super::*;
use crate::intent::{IntentRollout, PreviousSpec};

/// Generation 3 at rollout step 1, admitted at `admitted`; the others keep generation 2 when
/// `previous`, else run nothing.
fn rolling(admitted: &[&str], previous: bool) -> Intent {
    Intent {
        rollout: Some(IntentRollout {
            step: 1,
            sites: admitted.iter().map(|s| name(s)).collect(),
            previous: previous.then(|| PreviousSpec {
                generation: 2,
                order_id: "o-2".into(),
                spec_id: String::new(),
                spec_version: String::new(),
                characteristics: serde_json::Map::new(),
                blueprint_templates: vec![],
                traceparent: String::new(),
            }),
            fall_back_after: 0,
        }),
        ..intent(3, false)
    }
}

fn rendered_at(step: u64, sites: &[&str]) -> RenderedIntent {
    RenderedIntent {
        step,
        ..rendered(3, false, sites)
    }
}

fn verdict(generation: u64, attempts: u32, message: &str) -> Option<HealthVerdict> {
    Some(HealthVerdict {
        generation,
        attempts,
        message: message.into(),
    })
}

#[test]
fn each_site_is_ready_at_its_own_desired_generation() {
    let i = rolling(&["s1"], true);
    let r = rendered_at(1, &["s1", "s2"]);
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(3, true, false)), ("s2", seen(2, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Active, "{s:?}");
    assert_eq!(
        s.sites
            .iter()
            .map(|s| (s.desired_generation, s.observed_generation, s.ready))
            .collect::<Vec<_>>(),
        [(Some(3), 3, 1), (Some(2), 2, 1)]
    );
    let p = s.to_proto(0);
    assert_eq!(
        (p.sites[0].desired_generation, p.sites[1].desired_generation),
        (3, 2)
    );
    // A site still at the new generation after the rollout sent it back is not ready.
    let s = run(
        &i,
        Some(&r),
        &[("s1", seen(3, true, false)), ("s2", seen(3, true, false))],
        None,
    );
    assert_eq!(s.state, IntentState::Reserved);
    assert_eq!((s.sites[1].ready, s.observed_generation), (0, 3));
    // The commit of an earlier step does not hold this one.
    let s = run(
        &i,
        Some(&rendered_at(0, &["s1", "s2"])),
        &[("s1", seen(3, true, false)), ("s2", seen(2, true, false))],
        None,
    );
    assert_eq!(s.reasons, [StatusReason::WaitingForCommit]);
}

#[test]
fn a_site_that_is_to_run_nothing_is_ready_with_nothing() {
    let i = rolling(&["s1"], false);
    let r = rendered_at(1, &["s1"]);
    let s = run(&i, Some(&r), &[("s1", seen(3, true, false))], None);
    assert_eq!(s.state, IntentState::Active);
    let s2 = &s.sites[1];
    assert_eq!((s2.desired_generation, s2.ready, s2.total), (None, 0, 0));
    assert_eq!(s.observed_generation, 3);
    assert_eq!(s.to_proto(0).sites[1].desired_generation, 0);
    let s = run(&i, Some(&r), &[("s1", seen(2, true, false))], None);
    assert_eq!(
        (s.state, s.observed_generation),
        (IntentState::Reserved, 2),
        "only sites with something to run count"
    );
}

#[test]
fn health_verdicts_at_the_desired_generation_are_reasons_of_their_site() {
    let i = rolling(&["s1"], true);
    let r = rendered_at(1, &["s1", "s2"]);
    let sick = ObservedBlueprint {
        message: "starting".into(),
        unhealthy: verdict(3, 2, "connection refused"),
        fell_back: verdict(3, 3, ""),
        ..seen(3, false, false)
    };
    // s2 is to run generation 2: a verdict about 3 is history, not its state.
    let old_news = ObservedBlueprint {
        unhealthy: verdict(3, 5, "timeout"),
        ..seen(2, true, false)
    };
    let s = run(&i, Some(&r), &[("s1", sick), ("s2", old_news)], None);
    assert_eq!(
        s.sites[0].reasons("d"),
        [
            StatusReason::FellBack {
                blueprint: "web".into(),
                from_generation: 3,
                attempts: 3,
            },
            StatusReason::Unhealthy {
                blueprint: "web".into(),
                generation: 3,
                attempts: 2,
                message: "connection refused".into(),
            },
            StatusReason::BlueprintPending {
                blueprint: "web".into(),
                generation: Some(3),
                message: "starting".into(),
            },
        ]
    );
    assert!(s.sites[1].reasons("d").is_empty(), "{:?}", s.sites[1]);
    let p = s.to_proto(0);
    let typed =
        maestro_common::status::reasons_from_proto("reasons", p.sites[0].reasons.clone()).unwrap();
    assert_eq!(typed.len(), 3);
    assert!(
        p.sites[0].message.starts_with(
            "web: fell back from generation 3 after 3 failed attempts; web: unhealthy"
        ),
        "{}",
        p.sites[0].message
    );
}

#[test]
fn a_paused_site_says_so_after_unreachable() {
    let i = rolling(&["s1"], true);
    let r = rendered_at(1, &["s1", "s2"]);
    let mut paused = synced("abc", true, "");
    paused.sync.paused = "shift change".into();
    paused.sync.paused_since_ms = Some(800);
    let syncs = BTreeMap::from([("s2".to_string(), paused)]);
    let both = [("s1", seen(3, true, false)), ("s2", seen(2, true, false))];
    let s = run_with_syncs(&i, Some(&r), &both, None, at(1000, 0), &syncs);
    assert_eq!(s.sites[0].paused, None);
    assert_eq!(
        s.sites[1].reasons("d"),
        [StatusReason::SitePaused {
            site: "s2".into(),
            reason: "shift change".into(),
            since_ms: Some(800),
        }]
    );
    assert_eq!(s.state, IntentState::Active, "a pause is not a failure");
    let s = run_with_syncs(&i, Some(&r), &both, None, at(9000, 0), &syncs);
    let reasons = s.sites[1].reasons("d");
    assert!(
        matches!(reasons[0], StatusReason::Unreachable { .. })
            && matches!(reasons[1], StatusReason::SitePaused { .. }),
        "{reasons:?}"
    );
}
