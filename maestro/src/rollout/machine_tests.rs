//! Transitions of the rollout machine driven by site reports: start, bake, advance, complete,
//! and the success and failure thresholds.

use super::fixtures::*;
use super::*;

#[test]
fn pending_starts_the_first_wave_only() {
    let r = rollout(&strategy(&[1, 3]), &sites(4));
    assert_eq!(r.phase, Phase::Pending);
    let (r, actions) = go(&r, &input([]), T0);
    assert_eq!(r.phase, Phase::Rolling { wave: 0 });
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s00"])
        }]
    );
    let waits = waits(&actions).expect("the started site is converging");
    assert_eq!(waits["s00"], WaitReason::Converging { started_ms: T0 });
    assert_eq!(r.sites["s00"], SiteState::Started { at_ms: T0 });
    assert!(
        ["s01", "s02", "s03"]
            .iter()
            .all(|s| r.sites[*s] == SiteState::Waiting)
    );
}

#[test]
fn a_rollout_without_sites_completes_at_once() {
    let r = rollout(&strategy(&[1]), &[]);
    let (r, actions) = go(&r, &input([]), T0);
    assert_eq!(r.phase, Phase::Completed);
    assert_eq!(actions, vec![Action::Complete]);
}

#[test]
fn a_converged_wave_bakes_and_succeeds_only_after_the_bake_time() {
    let r = rollout(&strategy(&[1, 1]), &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let up = T0 + 10;
    let (r, actions) = go(&r, &input([("s00", healthy(NEW, up, up))]), up);
    assert_eq!(r.phase, Phase::Baking { wave: 0 });
    assert_eq!(
        waits(&actions).unwrap()["s00"],
        WaitReason::Baking {
            until_ms: up + BAKE
        }
    );
    // Healthy for a moment less than the bake time: nothing recorded (hawkBit #3185).
    let just_before = up + BAKE - 1;
    let (r, actions) = go(
        &r,
        &input([("s00", healthy(NEW, up, just_before))]),
        just_before,
    );
    assert_eq!(r.sites["s00"], SiteState::Started { at_ms: T0 });
    assert!(moves(&actions).is_empty());
    // A report after the bake time confirms it.
    let done = up + BAKE;
    let (r, actions) = go(&r, &input([("s00", healthy(NEW, up, done))]), done);
    assert_eq!(r.sites["s00"], SiteState::Succeeded { at_ms: done });
    assert_eq!(
        moves(&actions),
        vec![
            Action::Advance { wave: 1 },
            Action::StartSites {
                wave: 1,
                sites: names(&["s01"])
            }
        ]
    );
    assert_eq!(r.phase, Phase::Rolling { wave: 1 });
    assert_eq!(
        r.passed,
        vec![WaveTally {
            succeeded: 1,
            failed: 0,
            required: 1
        }]
    );
}

#[test]
fn success_needs_a_report_made_after_the_bake_time() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, _) = go(&r, &input([]), T0);
    // Healthy since T0, last heard at T0: time passing alone proves nothing.
    let later = T0 + BAKE * 2;
    let (r, actions) = go(&r, &input([("s00", healthy(NEW, T0, T0))]), later);
    assert_eq!(r.phase, Phase::Baking { wave: 0 });
    assert!(moves(&actions).is_empty());
    let (r, actions) = go(&r, &input([("s00", healthy(NEW, T0, later))]), later);
    assert_eq!(r.phase, Phase::Completed);
    assert_eq!(moves(&actions), vec![Action::Complete]);
}

#[test]
fn baking_returns_to_rolling_when_a_site_stops_being_healthy() {
    let r = rollout(&strategy(&[2]), &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let both = input([("s00", healthy(NEW, T0, T0)), ("s01", healthy(NEW, T0, T0))]);
    let (r, _) = go(&r, &both, T0);
    assert_eq!(r.phase, Phase::Baking { wave: 0 });
    let mut one = both.clone();
    one.reports.get_mut("s01").unwrap().health = Health::Progressing;
    let (r, actions) = go(&r, &one, T0 + 1);
    assert_eq!(r.phase, Phase::Rolling { wave: 0 });
    assert_eq!(
        waits(&actions).unwrap()["s01"],
        WaitReason::Converging { started_ms: T0 }
    );
}

#[test]
fn a_site_at_the_old_generation_is_not_counted_healthy() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, _) = go(&r, &input([]), T0);
    let late = T0 + BAKE * 3;
    let (r, _) = go(&r, &input([("s00", healthy(OLD, T0, late))]), late);
    assert_eq!(r.phase, Phase::Rolling { wave: 0 });
    assert_eq!(r.sites["s00"], SiteState::Started { at_ms: T0 });
}

#[test]
fn the_last_wave_passing_completes_with_every_tally() {
    let r = rollout(&strategy(&[1, 1]), &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let t1 = T0 + BAKE;
    let (r, _) = go(&r, &input([("s00", healthy(NEW, T0, t1))]), t1);
    let t2 = t1 + BAKE;
    let reports = input([("s00", healthy(NEW, T0, t2)), ("s01", healthy(NEW, t1, t2))]);
    let (r, actions) = go(&r, &reports, t2);
    assert_eq!(moves(&actions), vec![Action::Complete]);
    assert_eq!(r.phase, Phase::Completed);
    assert_eq!(r.passed.len(), 2);
    assert!(r.waiting.is_empty());
    // Final: nothing moves it any more.
    let (after, none) = step(&r, &input([("s00", failing(1, t2))]), t2 + 1);
    assert_eq!(after, r);
    assert!(none.is_empty());
}

#[test]
fn failures_below_the_failure_threshold_let_a_wave_pass() {
    let mut s = strategy(&[4, 1]);
    s.gate.success = Threshold::Fraction(0.75);
    s.gate.failure = Threshold::Count(2);
    let r = rollout(&s, &sites(5));
    let (r, _) = go(&r, &input([]), T0);
    let t = T0 + BAKE;
    let reports = input([
        ("s00", healthy(NEW, T0, t)),
        ("s01", healthy(NEW, T0, t)),
        ("s02", healthy(NEW, T0, t)),
        ("s03", failing(1, t)),
    ]);
    let (r, actions) = go(&r, &reports, t);
    assert_eq!(
        r.passed,
        vec![WaveTally {
            succeeded: 3,
            failed: 1,
            required: 3
        }]
    );
    assert_eq!(moves(&actions)[0], Action::Advance { wave: 1 });
    assert_eq!(r.phase, Phase::Rolling { wave: 1 });
}

#[test]
fn reaching_the_failure_threshold_aborts_at_once() {
    let mut s = strategy(&[4]);
    s.gate.failure = Threshold::Fraction(0.5);
    let r = rollout(&s, &sites(4));
    let (r, _) = go(&r, &input([]), T0);
    let (r, actions) = go(&r, &input([("s00", failing(1, T0))]), T0 + 1);
    assert!(
        matches!(r.phase, Phase::Rolling { .. }),
        "one of four is below half"
    );
    assert!(moves(&actions).is_empty());
    let two = input([("s00", failing(1, T0)), ("s01", failing(1, T0 + 2))]);
    let (r, actions) = go(&r, &two, T0 + 2);
    let reason = AbortReason::FailureThreshold {
        wave: 0,
        failed: 2,
        limit: 2,
    };
    assert_eq!(
        r.phase,
        Phase::RollingBack {
            reason: reason.clone()
        }
    );
    assert_eq!(
        moves(&actions),
        vec![
            Action::Abort { reason },
            Action::RollBack {
                sites: names(&["s00", "s01", "s02", "s03"])
            }
        ]
    );
}

#[test]
fn a_wave_that_settles_below_the_success_threshold_aborts() {
    let mut s = strategy(&[4, 4]);
    s.gate.failure = Threshold::Count(3);
    let r = rollout(&s, &sites(8));
    let (r, _) = go(&r, &input([]), T0);
    let t = T0 + BAKE;
    let reports = input([
        ("s00", healthy(NEW, T0, t)),
        ("s01", healthy(NEW, T0, t)),
        ("s02", healthy(NEW, T0, t)),
        ("s03", failing(1, t)),
    ]);
    let (r, actions) = go(&r, &reports, t);
    let reason = AbortReason::SuccessThresholdUnmet {
        wave: 0,
        succeeded: 3,
        required: 4,
    };
    assert_eq!(moves(&actions)[0], Action::Abort { reason });
    assert!(r.passed.is_empty());
    assert!((4..8).all(|i| r.sites[&format!("s{i:02}")] == SiteState::Waiting));
}

#[test]
fn a_failure_while_baking_aborts() {
    let r = rollout(&strategy(&[2, 1]), &sites(3));
    let (r, _) = go(&r, &input([]), T0);
    let both = input([("s00", healthy(NEW, T0, T0)), ("s01", healthy(NEW, T0, T0))]);
    let (r, _) = go(&r, &both, T0 + 1);
    assert_eq!(r.phase, Phase::Baking { wave: 0 });
    let mut one = both.clone();
    one.reports.insert("s01".into(), failing(1, T0 + 2));
    let (r, actions) = go(&r, &one, T0 + 2);
    let reason = AbortReason::FailureThreshold {
        wave: 0,
        failed: 1,
        limit: 1,
    };
    assert_eq!(
        moves(&actions),
        vec![
            Action::Abort {
                reason: reason.clone()
            },
            Action::RollBack {
                sites: names(&["s00", "s01"])
            }
        ]
    );
    assert_eq!(r.phase, Phase::RollingBack { reason });
    assert_eq!(r.sites["s02"], SiteState::Waiting);
}
