//! The reconcilers' instruments at a site (see `maestro_common::telemetry::metrics`):
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `maestro.site.reconcile.duration` | `s` | `reconciler`: the executor type (`process-reconciler`, `docker-reconciler`, …); `outcome`: `ok`, `error` — one convergence of one blueprint |
//!
//! Its count by `outcome="error"` is the reconcile errors.

use maestro_common::telemetry::metrics::meter;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use std::sync::OnceLock;

/// Bucket bounds in seconds, from a no-op check to a slow image start.
const BOUNDS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

fn duration() -> &'static Histogram<f64> {
    static H: OnceLock<Histogram<f64>> = OnceLock::new();
    H.get_or_init(|| {
        meter()
            .f64_histogram("maestro.site.reconcile.duration")
            .with_unit("s")
            .with_description("One convergence of one blueprint by a reconciler at the site")
            .with_boundaries(BOUNDS.to_vec())
            .build()
    })
}

/// One convergence by `reconciler` took `seconds`.
pub fn converged(reconciler: &str, ok: bool, seconds: f64) {
    let outcome = if ok { "ok" } else { "error" };
    duration().record(
        seconds,
        &[
            KeyValue::new("reconciler", reconciler.to_string()),
            KeyValue::new("outcome", outcome),
        ],
    );
}
