//! The machine driven against a simulated fleet of 64 sites in 4 waves: to completion, and
//! through a failure in a later wave to a rollback of exactly the sites that changed.

use super::fixtures::*;
use super::sim::{Behaviour, CONVERGE, Fleet, run};
use super::*;

const TICK: i64 = 10_000;

fn fleet_strategy() -> Strategy {
    let mut s = strategy(&[]);
    s.waves = WaveSizes::Percentages(vec![25, 25, 25, 25]);
    s.max_changing = 8;
    s
}

fn fleet(behaviour: impl Fn(usize) -> Behaviour) -> Fleet {
    Fleet::new((0..64).map(|i| (format!("s{i:02}"), behaviour(i))))
}

fn range(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("s{i:02}")).collect()
}

#[test]
fn sixty_four_sites_in_four_waves_run_to_completion() {
    let r = rollout(&fleet_strategy(), &sites(64));
    assert_eq!(
        r.waves.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![16; 4]
    );
    let mut fleet = fleet(|_| Behaviour::Healthy);
    let (r, log) = run(r, &mut fleet, T0, TICK, 10_000, &|_| None);
    assert_eq!(r.phase, Phase::Completed);
    let moves: Vec<Action> = log.iter().flat_map(|(_, a)| moves(a)).collect();
    let mut expected = Vec::new();
    for w in 0..4 {
        if w > 0 {
            expected.push(Action::Advance { wave: w });
        }
        expected.push(Action::StartSites {
            wave: w,
            sites: range(16 * w, 16 * w + 8),
        });
        expected.push(Action::StartSites {
            wave: w,
            sites: range(16 * w + 8, 16 * w + 16),
        });
    }
    expected.push(Action::Complete);
    assert_eq!(moves, expected);
    assert!(
        fleet
            .sites
            .values()
            .all(|s| s.running == NEW && s.orders == 1)
    );
    assert_eq!(
        r.passed,
        vec![
            WaveTally {
                succeeded: 16,
                failed: 0,
                required: 16
            };
            4
        ]
    );
    // Each batch of 8: converge, bake, then the next report confirms it.
    let (done_at, _) = log.last().expect("a completion");
    let batch = CONVERGE + BAKE;
    assert_eq!(*done_at - T0, 8 * batch);
}

#[test]
fn a_failure_in_the_third_wave_rolls_back_only_the_sites_that_changed() {
    let r = rollout(&fleet_strategy(), &sites(64));
    let mut fleet = fleet(|i| {
        if i == 37 {
            Behaviour::Fails
        } else {
            Behaviour::Healthy
        }
    });
    let (r, log) = run(r, &mut fleet, T0, TICK, 10_000, &|_| None);
    assert!(matches!(
        r.phase,
        Phase::RolledBack {
            reason: AbortReason::FailureThreshold {
                wave: 2,
                failed: 1,
                limit: 1
            }
        }
    ));
    let moves: Vec<Action> = log.iter().flat_map(|(_, a)| moves(a)).collect();
    let rolled: Vec<String> = moves
        .iter()
        .find_map(|a| match a {
            Action::RollBack { sites } => Some(sites.clone()),
            _ => None,
        })
        .expect("a rollback");
    // Waves 0 and 1, and the first batch of wave 2 (s32..s39) changed; nothing else.
    assert_eq!(rolled, range(0, 40));
    assert_eq!(moves.last(), Some(&Action::RolledBack));
    for (i, (name, s)) in fleet.sites.iter().enumerate() {
        assert_eq!(s.running, OLD, "{name} runs the old generation");
        assert_eq!(s.orders, if i < 40 { 2 } else { 0 }, "{name}");
    }
}

#[test]
fn a_silent_site_holds_the_fleet_until_an_operator_aborts() {
    let r = rollout(&fleet_strategy(), &sites(64));
    let mut fleet = fleet(|i| {
        if i == 3 {
            Behaviour::Silent
        } else {
            Behaviour::Healthy
        }
    });
    let (r, log) = run(r, &mut fleet, T0, TICK, 200, &|_| None);
    assert_eq!(r.phase, Phase::Rolling { wave: 0 });
    assert!(r.passed.is_empty());
    let last_wait = log
        .iter()
        .rev()
        .find_map(|(_, a)| waits(a))
        .expect("a wait");
    assert_eq!(
        last_wait["s03"],
        WaitReason::NotReporting {
            last_heard_ms: Some(T0)
        }
    );
    assert!(fleet.sites.values().filter(|s| s.orders > 0).count() == 16);
    let (r, _) = run(r, &mut fleet, T0 + 200 * TICK, TICK, 50, &|i| {
        (i == 0).then_some(Command::Abort)
    });
    // The silent site never confirms its return: the rollback waits for it, saying so.
    assert!(matches!(
        r.phase,
        Phase::RollingBack {
            reason: AbortReason::Operator
        }
    ));
    assert_eq!(
        r.sites
            .values()
            .filter(|s| matches!(s, SiteState::RolledBack { .. }))
            .count(),
        15
    );
    assert_eq!(r.waiting.len(), 1);
}
