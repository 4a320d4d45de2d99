//! Transitions of the rollout machine driven by site reports: start, bake, advance, complete,
//! the success and failure thresholds, silence, fall-back, `max_changing` and maintenance.

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
fn a_silent_site_never_counts_as_success_and_blocks_its_wave() {
    let r = rollout(&strategy(&[2, 1]), &sites(3));
    let (r, _) = go(&r, &input([]), T0);
    // s00 bakes properly; s01 says it is healthy once, then is never heard again.
    let quiet = input([
        ("s00", healthy(NEW, T0, T0 + BAKE)),
        ("s01", healthy(NEW, T0, T0 + 5)),
    ]);
    let (r, _) = go(&r, &quiet, T0 + BAKE);
    assert_eq!(r.sites["s00"], SiteState::Succeeded { at_ms: T0 + BAKE });
    let timeout = T0 + 5 + TIMEOUT;
    let (r, actions) = go(&r, &quiet, timeout);
    assert_eq!(
        waits(&actions).unwrap()["s01"],
        WaitReason::NotReporting {
            last_heard_ms: Some(T0 + 5)
        }
    );
    // A day later it still holds wave 0, and is not a success (hawkBit #693).
    let (r, actions) = go(&r, &quiet, T0 + 86_400_000);
    assert!(actions.is_empty());
    assert_eq!(r.sites["s01"], SiteState::Started { at_ms: T0 });
    assert_eq!(r.sites["s02"], SiteState::Waiting);
    assert!(matches!(r.phase, Phase::Baking { wave: 0 }));
}

#[test]
fn a_site_never_heard_counts_as_failed_under_the_fail_policy() {
    let mut s = strategy(&[1, 1]);
    s.gate.silent = SilentPolicy::Fail;
    let r = rollout(&s, &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let (r, actions) = go(&r, &input([]), T0 + TIMEOUT - 1);
    assert!(moves(&actions).is_empty());
    let (r, actions) = go(&r, &input([]), T0 + TIMEOUT);
    assert_eq!(
        r.sites["s00"],
        SiteState::RollingBack {
            at_ms: T0 + TIMEOUT
        }
    );
    assert_eq!(
        moves(&actions)[0],
        Action::Abort {
            reason: AbortReason::FailureThreshold {
                wave: 0,
                failed: 1,
                limit: 1
            }
        }
    );
    assert_eq!(r.sites["s01"], SiteState::Waiting);
}

#[test]
fn a_silent_site_under_the_fail_policy_is_recorded_as_not_reporting() {
    let mut s = strategy(&[2]);
    s.gate.silent = SilentPolicy::Fail;
    s.gate.failure = Threshold::Count(2);
    s.gate.success = Threshold::Count(1);
    let r = rollout(&s, &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let t = T0 + TIMEOUT;
    let (r, actions) = go(
        &r,
        &input([
            ("s00", healthy(NEW, T0, t)),
            ("s01", healthy(NEW, T0, T0 + 1)),
        ]),
        t + 1,
    );
    assert_eq!(
        r.sites["s01"],
        SiteState::Failed {
            at_ms: t + 1,
            failure: Failure::NotReporting {
                last_heard_ms: Some(T0 + 1)
            }
        }
    );
    assert_eq!(moves(&actions), vec![Action::Complete]);
    assert_eq!(
        r.passed,
        vec![WaveTally {
            succeeded: 1,
            failed: 1,
            required: 1
        }]
    );
}

#[test]
fn a_site_failing_repeatedly_is_recorded_as_fallen_back() {
    let mut s = strategy(&[4]);
    s.gate.failure = Threshold::Count(4);
    let r = rollout(&s, &sites(4));
    let (r, _) = go(&r, &input([]), T0);
    let said = SiteReport {
        fell_back_from: Some(NEW),
        ..back(T0 + 2)
    };
    let reports = input([
        ("s00", failing(2, T0 + 1)),
        ("s01", failing(3, T0 + 1)),
        ("s02", said),
    ]);
    let (r, _) = go(&r, &reports, T0 + 2);
    let failed = |failure| SiteState::Failed {
        at_ms: T0 + 2,
        failure,
    };
    assert_eq!(
        r.sites["s00"],
        failed(Failure::Unhealthy {
            reason: "health check failed".into()
        })
    );
    assert_eq!(r.sites["s01"], failed(Failure::FellBack { attempts: 3 }));
    assert_eq!(r.sites["s02"], failed(Failure::FellBack { attempts: 3 }));
    assert_eq!(
        r.phase,
        Phase::Rolling { wave: 0 },
        "three of four failed: below the threshold"
    );
}

#[test]
fn max_changing_limits_the_sites_started_at_once() {
    let mut s = strategy(&[5]);
    s.max_changing = 2;
    let r = rollout(&s, &sites(5));
    let (r, actions) = go(&r, &input([]), T0);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s00", "s01"])
        }]
    );
    assert_eq!(r.changing(), 2);
    let w = waits(&actions).unwrap();
    assert_eq!(w["s02"], WaitReason::MaxChanging { limit: 2 });
    // One settles: one more starts, never more than two changing.
    let t = T0 + BAKE;
    let (r, actions) = go(&r, &input([("s00", healthy(NEW, T0, t))]), t);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s02"])
        }]
    );
    assert_eq!(r.changing(), 2);
}

#[test]
fn a_maintenance_window_holds_a_site_with_its_reason() {
    let r = rollout(&strategy(&[2]), &sites(2));
    let window = SiteReport {
        maintenance: Some("shift change until 14:00".into()),
        ..back(T0)
    };
    let (r, actions) = go(&r, &input([("s01", window)]), T0);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s00"])
        }]
    );
    assert_eq!(
        waits(&actions).unwrap()["s01"],
        WaitReason::Maintenance {
            reason: "shift change until 14:00".into()
        }
    );
    assert_eq!(r.sites["s01"], SiteState::Waiting);
    let (r, actions) = go(&r, &input([("s01", back(T0 + 1))]), T0 + 1);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s01"])
        }]
    );
    assert_eq!(r.sites["s01"], SiteState::Started { at_ms: T0 + 1 });
}

#[test]
fn wait_is_sent_only_when_the_reasons_change() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, first) = go(&r, &input([]), T0);
    assert!(waits(&first).is_some());
    // Time passes, nothing new is heard, the timeout is not reached: nothing to say.
    let (r, actions) = go(&r, &input([]), T0 + 10);
    assert!(actions.is_empty());
    let (_, actions) = go(&r, &input([]), T0 + TIMEOUT);
    assert_eq!(
        waits(&actions).unwrap()["s00"],
        WaitReason::NotReporting {
            last_heard_ms: None
        }
    );
}
