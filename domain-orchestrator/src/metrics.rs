//! The domain orchestrator's instruments (see `maestro_common::telemetry::metrics`):
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `maestro.domain.intents.stored` | `{intent}` | `outcome`: `changed`, `unchanged` |
//! | `maestro.domain.reconcile.duration` | `s` | `outcome`: `ok`, `error` |
//! | `maestro.domain.git.publish.duration` | `s` | `outcome`: `changed`, `unchanged` (the tree was already there), `error` |
//! | `maestro.domain.site.status.age` | `s` | `site`: time since the site was last heard from (its staleness) |
//! | `maestro.domain.intents` | `{intent}` | `state`: `reserved`, `active`, `inactive`, `terminated` — the domain's intents by state |
//!
//! The gauge reads a copy of the last-heard times kept here, never the store, so that a store
//! reopened after a storage failure is not held by the meter.

use maestro_common::telemetry::metrics::meter;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, ObservableGauge};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// Bucket bounds in seconds, from a loopback commit to a slow push over a poor link.
const BOUNDS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

struct Instruments {
    stored: Counter<u64>,
    reconcile: Histogram<f64>,
    publish: Histogram<f64>,
    _status_age: ObservableGauge<f64>,
    _intents: ObservableGauge<u64>,
}

/// The state of each intent, as last computed.
fn states() -> &'static Mutex<BTreeMap<String, &'static str>> {
    static STATES: OnceLock<Mutex<BTreeMap<String, &'static str>>> = OnceLock::new();
    STATES.get_or_init(Default::default)
}

/// When each site was last heard from, ms since the epoch.
fn heard() -> &'static Mutex<BTreeMap<String, i64>> {
    static HEARD: OnceLock<Mutex<BTreeMap<String, i64>>> = OnceLock::new();
    HEARD.get_or_init(Default::default)
}

fn instruments() -> &'static Instruments {
    static I: OnceLock<Instruments> = OnceLock::new();
    I.get_or_init(|| {
        let m = meter();
        let seconds = |name: &'static str, what: &'static str| {
            m.f64_histogram(name)
                .with_unit("s")
                .with_description(what)
                .with_boundaries(BOUNDS.to_vec())
                .build()
        };
        Instruments {
            stored: m
                .u64_counter("maestro.domain.intents.stored")
                .with_unit("{intent}")
                .with_description(
                    "Intent applies and deletes acknowledged, by whether they changed anything",
                )
                .build(),
            reconcile: seconds(
                "maestro.domain.reconcile.duration",
                "One reconcile of an intent: render, check, publish",
            ),
            publish: seconds(
                "maestro.domain.git.publish.duration",
                "Committing and pushing the domain's tree to Git",
            ),
            _status_age: m
                .f64_observable_gauge("maestro.domain.site.status.age")
                .with_unit("s")
                .with_description("Time since each site of the domain was last heard from")
                .with_callback(|gauge| {
                    let now = maestro_common::time::now_millis();
                    let heard = heard().lock().unwrap_or_else(|p| p.into_inner());
                    for (site, at) in heard.iter() {
                        let age = (now - at).max(0) as f64 / 1000.0;
                        gauge.observe(age, &[KeyValue::new("site", site.clone())]);
                    }
                })
                .build(),
            _intents: m
                .u64_observable_gauge("maestro.domain.intents")
                .with_unit("{intent}")
                .with_description("The domain's intents by state")
                .with_callback(|gauge| {
                    let states = states().lock().unwrap_or_else(|p| p.into_inner());
                    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
                    for state in states.values() {
                        *counts.entry(state).or_default() += 1;
                    }
                    for (state, n) in counts {
                        gauge.observe(n, &[KeyValue::new("state", state)]);
                    }
                })
                .build(),
        }
    })
}

/// Intent `id` is now in `state` (one of the four TMF638 names).
pub fn intent_state(id: &str, state: &'static str) {
    instruments();
    let mut states = states().lock().unwrap_or_else(|p| p.into_inner());
    states.insert(id.to_string(), state);
}

/// An intent apply or delete was acknowledged.
pub fn intent_stored(changed: bool) {
    let outcome = if changed { "changed" } else { "unchanged" };
    instruments()
        .stored
        .add(1, &[KeyValue::new("outcome", outcome)]);
}

/// One reconcile took `seconds`.
pub fn reconciled(ok: bool, seconds: f64) {
    let outcome = if ok { "ok" } else { "error" };
    instruments()
        .reconcile
        .record(seconds, &[KeyValue::new("outcome", outcome)]);
}

/// One publish to Git took `seconds`; `changed` is None when it failed.
pub fn published(changed: Option<bool>, seconds: f64) {
    let outcome = match changed {
        Some(true) => "changed",
        Some(false) => "unchanged",
        None => "error",
    };
    instruments()
        .publish
        .record(seconds, &[KeyValue::new("outcome", outcome)]);
}

/// `site` (one of the domain's, so the labels stay bounded) was heard from at `millis`.
pub fn site_heard(site: &str, millis: i64) {
    instruments();
    let mut heard = heard().lock().unwrap_or_else(|p| p.into_inner());
    let at = heard.entry(site.to_string()).or_insert(millis);
    *at = (*at).max(millis);
}
