//! How single sites hold or fail a wave: silence under either policy, repeated failures that
//! fall back, `max_changing`, maintenance windows, and when wait reasons are sent.

use super::fixtures::*;
use super::*;

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
