//! The site agent's instruments (see `maestro_common::telemetry::metrics`):
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `maestro.site.outbox.depth` | `{record}` | — records waiting for the log server |
//! | `maestro.site.sync.duration` | `s` | `outcome`: `applied`, `unchanged`, `error` — one Git sync: fetch, verify, apply |
//! | `maestro.site.commit.age` | `s` | — age of the commit the site runs (now minus the domain's commit time): how far behind the domain's latest publication the site can be |
//!
//! The gauge reads the outbox through a weak reference to its bookkeeping, so the meter never
//! keeps a store open.

use maestro_common::telemetry::metrics::meter;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, ObservableGauge};
use std::sync::{Mutex, OnceLock, Weak};

/// Bucket bounds in seconds, from a local no-op to a slow fetch over a satellite link.
const BOUNDS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// Reads the number of waiting records, while the outbox lives.
type DepthSource = Box<dyn Fn() -> Option<u64> + Send + Sync>;

fn source() -> &'static Mutex<Option<DepthSource>> {
    static SOURCE: OnceLock<Mutex<Option<DepthSource>>> = OnceLock::new();
    SOURCE.get_or_init(Default::default)
}

struct Instruments {
    sync: Histogram<f64>,
    _depth: ObservableGauge<u64>,
    _commit_age: ObservableGauge<f64>,
}

/// When the commit the site runs was made, ms since the epoch (0: none applied yet).
static RUNNING_COMMIT_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn instruments() -> &'static Instruments {
    static I: OnceLock<Instruments> = OnceLock::new();
    I.get_or_init(|| {
        let m = meter();
        Instruments {
            sync: m
                .f64_histogram("maestro.site.sync.duration")
                .with_unit("s")
                .with_description("One Git sync of the site: fetch, verify and apply")
                .with_boundaries(BOUNDS.to_vec())
                .build(),
            _depth: m
                .u64_observable_gauge("maestro.site.outbox.depth")
                .with_unit("{record}")
                .with_description("Records in the site's outbox, waiting for the log server")
                .with_callback(|gauge| {
                    let source = source().lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(depth) = source.as_ref().and_then(|read| read()) {
                        gauge.observe(depth, &[]);
                    }
                })
                .build(),
            _commit_age: m
                .f64_observable_gauge("maestro.site.commit.age")
                .with_unit("s")
                .with_description("Age of the commit the site runs: now minus its commit time")
                .with_callback(|gauge| {
                    let at = RUNNING_COMMIT_MS.load(std::sync::atomic::Ordering::Relaxed);
                    if at > 0 {
                        let now = maestro_common::time::now_millis();
                        gauge.observe((now - at).max(0) as f64 / 1000.0, &[]);
                    }
                })
                .build(),
        }
    })
}

/// The site now runs a commit made at `committed_ms` (None: unknown).
pub fn running_commit(committed_ms: Option<i64>) {
    instruments();
    if let Some(ms) = committed_ms {
        RUNNING_COMMIT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Makes the outbox whose bookkeeping is `state` the one the gauge reads (`pending` reads its
/// count from the locked bookkeeping).
pub(crate) fn watch_outbox<T: Send + 'static>(state: Weak<Mutex<T>>, pending: fn(&T) -> usize) {
    instruments();
    let read: DepthSource = Box::new(move || {
        let state = state.upgrade()?;
        let st = state.lock().unwrap_or_else(|p| p.into_inner());
        Some(pending(&st) as u64)
    });
    *source().lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
}

/// One sync ended: `applied` is None when it failed.
pub fn synced(applied: Option<bool>, seconds: f64) {
    let outcome = match applied {
        Some(true) => "applied",
        Some(false) => "unchanged",
        None => "error",
    };
    instruments()
        .sync
        .record(seconds, &[KeyValue::new("outcome", outcome)]);
}
