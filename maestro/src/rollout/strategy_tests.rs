//! The strategy's serde form, its validation (field and reason), threshold rounding, and the
//! checks `Rollout::new` makes of its targets.

use super::fixtures::*;
use super::*;
use maestro_common::FieldError;
use serde_json::json;

/// A change to a valid strategy, the field it breaks and part of the reason.
type Case = (fn(&mut Strategy), &'static str, &'static str);

fn refused(s: &Strategy) -> FieldError {
    s.validate().expect_err("refused")
}

#[test]
fn a_strategy_reads_from_json_and_writes_back_the_same() {
    let value = json!({
        "waves": {"percentages": [10, 40, 50]},
        "canary": {"key": "canary", "value": "true"},
        "order": {"first": [{"key": "tier", "value": "test"}], "by": ["region"]},
        "gate": {
            "success": {"fraction": 0.9},
            "failure": {"count": 2},
            "bake_ms": 600000,
            "report_timeout_ms": 900000,
            "silent": "block",
            "fall_back_after": 3
        },
        "max_changing": 10
    });
    let s: Strategy = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.gate.success, Threshold::Fraction(0.9));
    assert_eq!(s.canary, Some(canary()));
    assert_eq!(serde_json::to_value(&s).unwrap(), value);
}

#[test]
fn unknown_fields_are_refused() {
    let mut v = serde_json::to_value(strategy(&[1])).unwrap();
    v["gate"]["bake_time"] = json!(5);
    let err = serde_json::from_value::<Strategy>(v).unwrap_err();
    assert!(err.to_string().contains("bake_time"), "{err}");
}

#[test]
fn every_field_is_checked_and_named() {
    let cases: Vec<Case> = vec![
        (
            |s| s.waves = WaveSizes::Counts(vec![]),
            "waves.counts",
            "between 1 and 100 waves",
        ),
        (
            |s| s.waves = WaveSizes::Counts(vec![1; 101]),
            "waves.counts",
            "between 1 and 100 waves",
        ),
        (
            |s| s.waves = WaveSizes::Counts(vec![1, 0]),
            "waves.counts[1]",
            "between 1 and",
        ),
        (
            |s| s.waves = WaveSizes::Percentages(vec![50, 101]),
            "waves.percentages[1]",
            "between 1 and 100",
        ),
        (
            |s| s.waves = WaveSizes::Percentages(vec![60, 50]),
            "waves.percentages",
            "at most 100",
        ),
        (
            |s| {
                s.canary = Some(LabelMatch {
                    key: String::new(),
                    value: "x".into(),
                })
            },
            "canary.key",
            "empty",
        ),
        (
            |s| {
                s.canary = Some(LabelMatch {
                    key: "k".into(),
                    value: "a\u{1b}[2J".into(),
                })
            },
            "canary.value",
            "",
        ),
        (
            |s| s.order.by = vec!["region".into(), String::new()],
            "order.by[1]",
            "empty",
        ),
        (
            |s| s.order.by = vec!["k".into(); 17],
            "order.by",
            "more than 16",
        ),
        (
            |s| {
                s.order.first = vec![LabelMatch {
                    key: "k\n".into(),
                    value: String::new(),
                }]
            },
            "order.first[0].key",
            "",
        ),
        (
            |s| s.gate.success = Threshold::Fraction(1.5),
            "gate.success.fraction",
            "between 0 and 1",
        ),
        (
            |s| s.gate.success = Threshold::Fraction(f64::NAN),
            "gate.success.fraction",
            "between 0 and 1",
        ),
        (
            |s| s.gate.failure = Threshold::Fraction(-0.1),
            "gate.failure.fraction",
            "between 0 and 1",
        ),
        (
            |s| s.gate.failure = Threshold::Count(0),
            "gate.failure.count",
            "between 1 and",
        ),
        (
            |s| s.gate.success = Threshold::Count(2_000_000),
            "gate.success.count",
            "between 0 and",
        ),
        (
            |s| s.gate.bake_ms = 8 * 24 * 3600 * 1000,
            "gate.bake_ms",
            "at most",
        ),
        (
            |s| s.gate.report_timeout_ms = 999,
            "gate.report_timeout_ms",
            "between 1000 and",
        ),
        (
            |s| s.gate.fall_back_after = 0,
            "gate.fall_back_after",
            "between 1 and 100",
        ),
        (|s| s.max_changing = 0, "max_changing", "between 1 and"),
    ];
    for (change, field, reason) in cases {
        let mut s = strategy(&[1]);
        change(&mut s);
        let err = refused(&s);
        assert_eq!(err.field, field, "{err}");
        assert!(err.reason.contains(reason), "{err}");
    }
}

#[test]
fn the_bounds_themselves_are_accepted() {
    let mut s = strategy(&[1]);
    s.waves = WaveSizes::Percentages(vec![1; 100]);
    s.gate.success = Threshold::Fraction(0.0);
    s.gate.failure = Threshold::Fraction(1.0);
    s.gate.bake_ms = strategy::MAX_DURATION_MS;
    s.gate.report_timeout_ms = strategy::MIN_REPORT_TIMEOUT_MS;
    s.order.by = vec!["k".into(); strategy::MAX_ORDER_KEYS];
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn thresholds_round_up_and_counts_cap_at_the_wave() {
    assert_eq!(Threshold::Fraction(0.9).of(10), 9);
    assert_eq!(Threshold::Fraction(0.9).of(11), 10);
    assert_eq!(Threshold::Fraction(0.1).of(3), 1);
    assert_eq!(Threshold::Fraction(0.0).of(64), 0);
    assert_eq!(Threshold::Fraction(1.0).of(64), 64);
    assert_eq!(
        Threshold::Fraction(0.3).of(10),
        3,
        "no floating-point drift"
    );
    assert_eq!(Threshold::Count(5).of(3), 3);
    assert_eq!(Threshold::Count(2).of(16), 2);
}

#[test]
fn a_rollout_refuses_bad_targets_and_generations() {
    let s = strategy(&[1]);
    let err = Rollout::new(&s, &[sites(1)[0].clone(), sites(1)[0].clone()], OLD, NEW).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason.as_str()),
        ("targets[1].name", "names a site twice")
    );
    let err = Rollout::new(&s, &[TargetSite::new("../etc", [])], OLD, NEW).unwrap_err();
    assert_eq!(err.field, "targets[0].name");
    let err = Rollout::new(&s, &sites(1), NEW, NEW).unwrap_err();
    assert_eq!(err.field, "generation");
    let mut bad = s.clone();
    bad.max_changing = 0;
    let err = Rollout::new(&bad, &sites(1), OLD, NEW).unwrap_err();
    assert_eq!(err.field, "strategy.max_changing");
}

#[test]
fn a_rollout_is_stored_as_json_and_read_back() {
    let r = rollout(&strategy(&[1, 2]), &sites(3));
    let (r, _) = step(&r, &input([]), T0);
    let text = serde_json::to_string(&r).unwrap();
    let back: Rollout = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}
