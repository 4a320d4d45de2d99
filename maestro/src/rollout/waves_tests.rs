//! The plan of waves: rounding of percentages, the last wave taking the rest, no empty wave,
//! the canary wave first, and the order of sites by labels and name.

use super::*;
use crate::rollout::fixtures::{canary, sites, strategy};
use crate::rollout::strategy::LabelMatch;

fn sizes(waves: &[Vec<String>]) -> Vec<usize> {
    waves.iter().map(Vec::len).collect()
}

fn by_percent(p: &[u32]) -> Strategy {
    let mut s = strategy(&[1]);
    s.waves = WaveSizes::Percentages(p.to_vec());
    s
}

#[test]
fn counts_fill_waves_and_the_last_takes_the_rest() {
    assert_eq!(
        sizes(&plan_waves(&strategy(&[1, 10]), &sites(64))),
        vec![1, 63]
    );
    assert_eq!(
        sizes(&plan_waves(&strategy(&[2, 2, 2]), &sites(5))),
        vec![2, 2, 1]
    );
    // Fewer sites than asked for: the waves that would be empty are not produced.
    assert_eq!(
        sizes(&plan_waves(&strategy(&[1, 10, 20]), &sites(5))),
        vec![1, 4]
    );
    assert_eq!(sizes(&plan_waves(&strategy(&[3, 3]), &sites(2))), vec![2]);
}

#[test]
fn percentages_round_up_at_each_boundary() {
    assert_eq!(
        sizes(&plan_waves(&by_percent(&[25, 25, 25, 25]), &sites(64))),
        vec![16; 4]
    );
    // 6.4 -> 7, 25.6 -> 26: boundaries, not sizes, are rounded, so nothing drifts.
    assert_eq!(
        sizes(&plan_waves(&by_percent(&[10, 30, 60]), &sites(64))),
        vec![7, 19, 38]
    );
    assert_eq!(
        sizes(&plan_waves(&by_percent(&[1, 9, 90]), &sites(10))),
        vec![1, 9]
    );
    // Percentages short of 100: the last wave still takes every site left.
    assert_eq!(
        sizes(&plan_waves(&by_percent(&[10, 10]), &sites(10))),
        vec![1, 9]
    );
}

#[test]
fn empty_waves_are_never_produced() {
    // 3 sites: 10% -> 1, 20% -> 1 (empty), 100% -> 3.
    assert_eq!(
        sizes(&plan_waves(&by_percent(&[10, 10, 80]), &sites(3))),
        vec![1, 2]
    );
    assert!(plan_waves(&by_percent(&[50, 50]), &[]).is_empty());
    let mut s = strategy(&[1, 2]);
    s.canary = Some(canary());
    assert_eq!(
        sizes(&plan_waves(&s, &sites(3))),
        vec![1, 2],
        "no canary site, no canary wave"
    );
}

#[test]
fn the_canary_wave_comes_first_and_the_sizes_apply_to_the_rest() {
    let mut s = by_percent(&[50, 50]);
    s.canary = Some(canary());
    let mut targets = sites(4);
    targets.push(TargetSite::new("z-canary", [("canary", "true")]));
    targets.push(TargetSite::new("a-canary", [("canary", "true")]));
    let waves = plan_waves(&s, &targets);
    assert_eq!(waves[0], vec!["a-canary", "z-canary"]);
    assert_eq!(waves[1], vec!["s00", "s01"]);
    assert_eq!(waves[2], vec!["s02", "s03"]);
}

#[test]
fn sites_are_ordered_by_first_labels_then_label_values_then_name() {
    let mut s = strategy(&[10]);
    s.order.first = vec![
        LabelMatch {
            key: "ring".into(),
            value: "test".into(),
        },
        LabelMatch {
            key: "ring".into(),
            value: "early".into(),
        },
    ];
    s.order.by = vec!["region".into()];
    let targets = vec![
        TargetSite::new("m", [("region", "north")]),
        TargetSite::new("b", []),
        TargetSite::new("k", [("region", "north"), ("ring", "early")]),
        TargetSite::new("c", [("region", "east")]),
        TargetSite::new("x", [("ring", "test")]),
        TargetSite::new("a", [("region", "north")]),
    ];
    let waves = plan_waves(&s, &targets);
    assert_eq!(waves, vec![vec!["x", "k", "c", "a", "m", "b"]]);
    let mut shuffled = targets.clone();
    shuffled.reverse();
    assert_eq!(plan_waves(&s, &shuffled), waves);
}
