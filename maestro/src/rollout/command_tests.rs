//! Transitions driven by operator commands and by aborts: pause, resume, abort in every phase,
//! the rollback of exactly the sites that changed, and the final phases.

use super::fixtures::*;
use super::*;

fn with(command: Command, reports: Input) -> Input {
    Input {
        command: Some(command),
        ..reports
    }
}

#[test]
fn a_canary_that_fails_its_health_aborts_and_only_it_rolls_back() {
    let mut s = strategy(&[4, 4]);
    s.canary = Some(canary());
    let mut targets = sites(8);
    targets.push(TargetSite::new("mine-a", [("canary", "true")]));
    let r = rollout(&s, &targets);
    let (r, actions) = go(&r, &input([]), T0);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["mine-a"])
        }]
    );
    let (r, actions) = go(&r, &input([("mine-a", failing(1, T0 + 5))]), T0 + 5);
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
                sites: names(&["mine-a"])
            }
        ]
    );
    assert_eq!(
        r.phase,
        Phase::RollingBack {
            reason: reason.clone()
        }
    );
    assert!(
        targets[..8]
            .iter()
            .all(|t| r.sites[&t.name] == SiteState::Waiting)
    );
    assert_eq!(
        waits(&actions).unwrap()["mine-a"],
        WaitReason::Returning { since_ms: T0 + 5 }
    );
    // Back at the old generation, in a report after the rollback was ordered.
    let (r, actions) = go(&r, &input([("mine-a", back(T0 + 9))]), T0 + 9);
    assert_eq!(actions, vec![Action::RolledBack]);
    assert_eq!(r.phase, Phase::RolledBack { reason });
    assert_eq!(r.sites["mine-a"], SiteState::RolledBack { at_ms: T0 + 9 });
    assert!(r.waiting.is_empty());
}

#[test]
fn a_rollback_counts_only_reports_made_after_it_was_ordered() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, _) = go(&r, &input([]), T0);
    let (r, _) = go(&r, &with(Command::Abort, input([])), T0 + 10);
    // An old report at the previous generation, from before the abort.
    let (r, actions) = go(&r, &input([("s00", back(T0 + 9))]), T0 + 11);
    assert!(actions.is_empty());
    assert!(matches!(r.phase, Phase::RollingBack { .. }));
    let (r, actions) = go(&r, &input([("s00", back(T0 + 9))]), T0 + 10 + TIMEOUT);
    assert_eq!(
        waits(&actions).unwrap()["s00"],
        WaitReason::NotReporting {
            last_heard_ms: Some(T0 + 9)
        }
    );
    let (r, actions) = go(
        &r,
        &input([("s00", back(T0 + TIMEOUT * 2))]),
        T0 + TIMEOUT * 2,
    );
    assert_eq!(actions, vec![Action::RolledBack]);
    assert!(matches!(r.phase, Phase::RolledBack { .. }));
}

#[test]
fn pause_starts_nothing_and_passes_no_wave_until_resumed() {
    let mut s = strategy(&[2, 1]);
    s.max_changing = 1;
    let r = rollout(&s, &sites(3));
    let (r, _) = go(&r, &input([]), T0);
    let (r, actions) = go(&r, &with(Command::Pause, input([])), T0 + 1);
    assert_eq!(
        r.phase,
        Phase::Paused {
            wave: 0,
            at_ms: T0 + 1
        }
    );
    assert!(moves(&actions).is_empty());
    // s00 succeeds while paused: recorded, but s01 does not start.
    let t = T0 + BAKE;
    let done = input([("s00", healthy(NEW, T0, t))]);
    let (r, actions) = go(&r, &done, t);
    assert_eq!(r.sites["s00"], SiteState::Succeeded { at_ms: t });
    assert_eq!(r.sites["s01"], SiteState::Waiting);
    assert!(moves(&actions).is_empty());
    let (r, actions) = go(&r, &with(Command::Resume, done.clone()), t + 1);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s01"])
        }]
    );
    assert_eq!(r.phase, Phase::Rolling { wave: 0 });
    // A second resume, or a resume while rolling, does nothing.
    let (_, actions) = go(&r, &with(Command::Resume, done), t + 2);
    assert!(actions.is_empty());
}

#[test]
fn a_pause_holds_a_passing_wave_and_resume_advances_it() {
    let r = rollout(&strategy(&[1, 1]), &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let (r, _) = go(&r, &with(Command::Pause, input([])), T0);
    let t = T0 + BAKE;
    let done = input([("s00", healthy(NEW, T0, t))]);
    let (r, _) = go(&r, &done, t);
    assert!(r.passed.is_empty());
    assert_eq!(r.phase, Phase::Paused { wave: 0, at_ms: T0 });
    let (r, actions) = go(&r, &with(Command::Resume, done), t);
    assert_eq!(moves(&actions)[0], Action::Advance { wave: 1 });
    assert_eq!(r.phase, Phase::Rolling { wave: 1 });
}

#[test]
fn pause_and_resume_before_anything_started() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, actions) = go(&r, &with(Command::Pause, input([])), T0);
    assert_eq!(r.phase, Phase::Paused { wave: 0, at_ms: T0 });
    assert!(actions.is_empty());
    assert_eq!(r.sites["s00"], SiteState::Waiting);
    let (r, actions) = go(&r, &with(Command::Resume, input([])), T0 + 1);
    assert_eq!(
        moves(&actions),
        vec![Action::StartSites {
            wave: 0,
            sites: names(&["s00"])
        }]
    );
    assert_eq!(r.phase, Phase::Rolling { wave: 0 });
}

#[test]
fn failures_still_abort_while_paused() {
    let r = rollout(&strategy(&[2]), &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let (r, _) = go(&r, &with(Command::Pause, input([])), T0 + 1);
    let (r, actions) = go(&r, &input([("s01", failing(1, T0 + 2))]), T0 + 2);
    assert!(matches!(
        moves(&actions)[0],
        Action::Abort {
            reason: AbortReason::FailureThreshold { .. }
        }
    ));
    assert!(matches!(r.phase, Phase::RollingBack { .. }));
}

#[test]
fn abort_while_baking_rolls_back_every_site_that_changed() {
    let mut s = strategy(&[1, 2, 2]);
    s.max_changing = 1;
    let r = rollout(&s, &sites(5));
    let (r, _) = go(&r, &input([]), T0);
    let t1 = T0 + BAKE;
    let (r, _) = go(&r, &input([("s00", healthy(NEW, T0, t1))]), t1);
    // Wave 1: s01 started and healthy, s02 waits for a slot; then it bakes alone.
    let baking = input([
        ("s00", healthy(NEW, T0, t1)),
        ("s01", healthy(NEW, t1, t1 + 1)),
    ]);
    let (r, _) = go(&r, &baking, t1 + 1);
    assert_eq!(r.sites["s02"], SiteState::Waiting);
    assert_eq!(r.phase, Phase::Rolling { wave: 1 });
    let mut s2 = strategy(&[1, 1, 3]);
    s2.max_changing = 1;
    let r2 = rollout(&s2, &sites(5));
    let (r2, _) = go(&r2, &input([]), T0);
    let (r2, _) = go(&r2, &input([("s00", healthy(NEW, T0, t1))]), t1);
    let (r2, _) = go(&r2, &baking, t1 + 1);
    assert_eq!(r2.phase, Phase::Baking { wave: 1 });
    for r in [r, r2] {
        let (r, actions) = go(&r, &with(Command::Abort, baking.clone()), t1 + 2);
        assert_eq!(
            moves(&actions),
            vec![
                Action::Abort {
                    reason: AbortReason::Operator
                },
                Action::RollBack {
                    sites: names(&["s00", "s01"])
                }
            ]
        );
        assert!(
            ["s02", "s03", "s04"]
                .iter()
                .all(|n| r.sites[*n] == SiteState::Waiting)
        );
    }
}

#[test]
fn abort_before_anything_changed_is_rolled_back_at_once() {
    let r = rollout(&strategy(&[1]), &sites(2));
    let (r, actions) = go(&r, &with(Command::Abort, input([])), T0);
    assert_eq!(
        actions,
        vec![
            Action::Abort {
                reason: AbortReason::Operator
            },
            Action::RolledBack
        ]
    );
    assert_eq!(
        r.phase,
        Phase::RolledBack {
            reason: AbortReason::Operator
        }
    );
    assert!(r.sites.values().all(|s| *s == SiteState::Waiting));
}

#[test]
fn abort_while_paused_rolls_back() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, _) = go(&r, &input([]), T0);
    let (r, _) = go(&r, &with(Command::Pause, input([])), T0 + 1);
    let (r, actions) = go(&r, &with(Command::Abort, input([])), T0 + 2);
    assert_eq!(
        moves(&actions)[1],
        Action::RollBack {
            sites: names(&["s00"])
        }
    );
    assert!(matches!(
        r.phase,
        Phase::RollingBack {
            reason: AbortReason::Operator
        }
    ));
}

#[test]
fn commands_while_rolling_back_or_after_the_end_change_nothing() {
    let r = rollout(&strategy(&[1]), &sites(1));
    let (r, _) = go(&r, &input([]), T0);
    let (back_r, _) = go(&r, &with(Command::Abort, input([])), T0 + 1);
    for c in [Command::Pause, Command::Resume, Command::Abort] {
        let (after, actions) = step(&back_r, &with(c, input([])), T0 + 2);
        assert_eq!(after, back_r);
        assert!(actions.is_empty());
    }
    let t = T0 + BAKE;
    let (done, _) = go(&r, &input([("s00", healthy(NEW, T0, t))]), t);
    assert_eq!(done.phase, Phase::Completed);
    for c in [Command::Pause, Command::Resume, Command::Abort] {
        let (after, actions) = step(&done, &with(c, input([])), t + 1);
        assert_eq!(after, done);
        assert!(actions.is_empty());
    }
}

#[test]
fn a_site_that_fell_back_is_rolled_back_with_the_others() {
    let mut s = strategy(&[2]);
    s.gate.failure = Threshold::Count(2);
    let r = rollout(&s, &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let (r, _) = go(&r, &input([("s00", failing(3, T0 + 1))]), T0 + 1);
    assert!(matches!(
        r.sites["s00"],
        SiteState::Failed {
            failure: Failure::FellBack { .. },
            ..
        }
    ));
    let (_, actions) = go(&r, &with(Command::Abort, input([])), T0 + 2);
    assert_eq!(
        moves(&actions)[1],
        Action::RollBack {
            sites: names(&["s00", "s01"])
        }
    );
}

#[test]
fn a_baking_wave_pauses_and_resumes_to_baking() {
    let r = rollout(&strategy(&[1, 1]), &sites(2));
    let (r, _) = go(&r, &input([]), T0);
    let up = input([("s00", healthy(NEW, T0, T0 + 1))]);
    let (r, _) = go(&r, &up, T0 + 1);
    assert_eq!(r.phase, Phase::Baking { wave: 0 });
    let (r, actions) = go(&r, &with(Command::Pause, up.clone()), T0 + 2);
    assert_eq!(
        r.phase,
        Phase::Paused {
            wave: 0,
            at_ms: T0 + 2
        }
    );
    assert!(
        actions.is_empty(),
        "the site still bakes, for the same reason"
    );
    let (r, actions) = go(&r, &with(Command::Resume, up), T0 + 3);
    assert_eq!(r.phase, Phase::Baking { wave: 0 });
    assert!(actions.is_empty());
}
