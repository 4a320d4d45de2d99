//! Property tests of the rollout: any strategy, any fleet (healthy, failing and silent sites)
//! and any operator commands keep the machine's invariants at every step; any sites and sizes
//! give waves that partition the sites. `PROPTEST_CASES` sets the case count (`docs/testing.md`).

use super::fixtures::{NEW, OLD, T0};
use super::sim::{Behaviour, Fleet};
use super::step;
use super::strategy::Strategy as RolloutStrategy;
use super::strategy::{SilentPolicy, Threshold, WaveGate, WaveSizes};
use super::waves::{TargetSite, plan_waves};
use super::{Action, Command, Input, Phase, Rollout, SiteState};
use proptest::prelude::*;
use std::collections::BTreeSet;

const TICK: i64 = 10_000;

fn threshold(min_count: u32) -> impl Strategy<Value = Threshold> {
    prop_oneof![
        (0.0f64..=1.0).prop_map(Threshold::Fraction),
        (min_count..5).prop_map(Threshold::Count),
    ]
}

prop_compose! {
    fn rollout_strategy()(
        sizes in prop::collection::vec(1u32..25, 1..5),
        percentages in any::<bool>(),
        canary in any::<bool>(),
        success in threshold(0),
        failure in threshold(1),
        fail_silent in any::<bool>(),
        bake_ticks in 0u64..4,
        timeout_ticks in 1u64..8,
        max_changing in 1u32..6,
    ) -> RolloutStrategy {
        let mut s = super::fixtures::strategy(&[]);
        s.waves = if percentages { WaveSizes::Percentages(sizes) } else { WaveSizes::Counts(sizes) };
        s.canary = canary.then(super::fixtures::canary);
        s.gate = WaveGate {
            success,
            failure,
            bake_ms: bake_ticks * TICK as u64,
            report_timeout_ms: timeout_ticks * TICK as u64,
            silent: if fail_silent { SilentPolicy::Fail } else { SilentPolicy::Block },
            fall_back_after: 2,
        };
        s.max_changing = max_changing;
        s
    }
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        6 => Just(Behaviour::Healthy),
        1 => Just(Behaviour::Fails),
        1 => Just(Behaviour::Silent),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::Abort)
    ]
}

fn targets(sites: &[(bool, Behaviour)]) -> Vec<TargetSite> {
    sites
        .iter()
        .enumerate()
        .map(|(i, (c, _))| {
            let labels = if *c { vec![("canary", "true")] } else { vec![] };
            TargetSite::new(&format!("s{i:02}"), labels)
        })
        .collect()
}

proptest! {
    /// At every step: never more sites changing than allowed; a site starts once and only
    /// while waiting; only started sites are rolled back, once; completion only when every
    /// wave met its threshold; a second step with the same input does nothing.
    #[test]
    fn the_machine_keeps_its_invariants(
        strategy in rollout_strategy(),
        sites in prop::collection::vec((any::<bool>(), behaviour()), 0..24),
        commands in prop::collection::btree_map(0usize..80, command(), 0..4),
    ) {
        let mut r = Rollout::new(&strategy, &targets(&sites), OLD, NEW).unwrap();
        let mut fleet = Fleet::new(sites.iter().enumerate().map(|(i, (_, b))| (format!("s{i:02}"), *b)));
        let mut started = BTreeSet::new();
        let mut rolled = BTreeSet::new();
        for i in 0..400 {
            let now = T0 + TICK * i as i64;
            let input = Input { reports: fleet.reports(now), command: commands.get(&(i as usize)).copied() };
            let (next, actions) = step(&r, &input, now);
            let (again, none) = step(&next, &input, now);
            prop_assert!(none.is_empty());
            prop_assert_eq!(&again, &next);
            prop_assert!(next.changing() <= strategy.max_changing as usize);
            for a in &actions {
                match a {
                    Action::StartSites { wave, sites } => {
                        prop_assert!(!sites.is_empty());
                        for s in sites {
                            prop_assert!(next.waves[*wave].contains(s));
                            prop_assert_eq!(r.sites.get(s), Some(&SiteState::Waiting));
                            prop_assert!(started.insert(s.clone()), "{} started twice", s);
                        }
                    }
                    Action::RollBack { sites } => {
                        for s in sites {
                            prop_assert!(started.contains(s), "{} rolled back, never started", s);
                            prop_assert!(rolled.insert(s.clone()), "{} rolled back twice", s);
                        }
                    }
                    Action::Complete => {
                        prop_assert_eq!(next.passed.len(), next.waves.len());
                        prop_assert!(next.passed.iter().all(|t| t.succeeded >= t.required));
                        prop_assert!(rolled.is_empty());
                    }
                    _ => {}
                }
            }
            for (name, s) in &next.sites {
                prop_assert_eq!(s.changed(), started.contains(name), "{}: {:?}", name, s);
            }
            if next.phase == Phase::Completed {
                let settled = |s: &SiteState| {
                    matches!(s, SiteState::Succeeded { .. } | SiteState::Failed { .. })
                };
                prop_assert!(next.sites.values().all(settled));
            }
            fleet.apply(&actions, now);
            r = next;
            if r.phase.is_final() {
                break;
            }
        }
        if let Phase::RolledBack { .. } = r.phase {
            prop_assert_eq!(&rolled, &started);
        }
    }

    /// Waves hold every site exactly once, none is empty, the canary wave comes first and holds
    /// exactly the canary sites, and the order the sites arrive in changes nothing.
    #[test]
    fn waves_partition_the_sites(
        strategy in rollout_strategy(),
        sites in prop::collection::vec((any::<bool>(), behaviour()), 0..60),
    ) {
        let targets = targets(&sites);
        let waves = plan_waves(&strategy, &targets);
        prop_assert!(waves.iter().all(|w| !w.is_empty()));
        let mut all: Vec<&String> = waves.iter().flatten().collect();
        all.sort();
        let mut names: Vec<&String> = targets.iter().map(|t| &t.name).collect();
        names.sort();
        prop_assert_eq!(all, names);
        let canaries: Vec<String> = targets.iter().filter(|t| t.labels.contains_key("canary")).map(|t| t.name.clone()).collect();
        if strategy.canary.is_some() && !canaries.is_empty() {
            prop_assert_eq!(&waves[0], &canaries);
        }
        let reversed: Vec<TargetSite> = targets.iter().rev().cloned().collect();
        prop_assert_eq!(plan_waves(&strategy, &reversed), waves);
    }
}
