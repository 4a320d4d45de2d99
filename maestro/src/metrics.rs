//! Maestro's own instruments (see `maestro_common::telemetry::metrics`):
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `maestro.orders.created` | `{order}` | — (a replayed idempotency key is not counted) |
//! | `maestro.order.duration` | `s` | `state`: how the order ended |
//! | `maestro.fanout.attempts` | `{attempt}` | `domain`, `outcome`: `acknowledged`, `rejected`, `failed` |
//! | `maestro.fanout.delivery.duration` | `s` | `domain`, `outcome`: from the first attempt to the domain's answer |

use crate::model::Order;
use maestro_common::telemetry::metrics::meter;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use std::sync::OnceLock;

/// Bucket bounds in seconds for things that take from milliseconds to hours.
const LONG_BOUNDS: [f64; 16] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
    86400.0,
];

struct Instruments {
    created: Counter<u64>,
    order_duration: Histogram<f64>,
    attempts: Counter<u64>,
    delivery: Histogram<f64>,
}

fn instruments() -> &'static Instruments {
    static I: OnceLock<Instruments> = OnceLock::new();
    I.get_or_init(|| {
        let m = meter();
        Instruments {
            created: m
                .u64_counter("maestro.orders.created")
                .with_unit("{order}")
                .with_description("Orders created (a replayed idempotency key is not counted)")
                .build(),
            order_duration: m
                .f64_histogram("maestro.order.duration")
                .with_unit("s")
                .with_description("From an order's creation to its final state, by that state")
                .with_boundaries(LONG_BOUNDS.to_vec())
                .build(),
            attempts: m
                .u64_counter("maestro.fanout.attempts")
                .with_unit("{attempt}")
                .with_description("Intent delivery attempts to domains, by domain and outcome")
                .build(),
            delivery: m
                .f64_histogram("maestro.fanout.delivery.duration")
                .with_unit("s")
                .with_description("From an intent's first delivery attempt to the domain's answer")
                .with_boundaries(LONG_BOUNDS.to_vec())
                .build(),
        }
    })
}

/// A new order was stored.
pub fn order_created() {
    instruments().created.add(1, &[]);
}

/// `order` just became final.
pub fn order_ended(order: &Order) {
    let Some(done) = order.completion_date_ms else {
        return;
    };
    let seconds = (done - order.order_date_ms).max(0) as f64 / 1000.0;
    let state = format!("{:?}", order.state.to_proto());
    instruments()
        .order_duration
        .record(seconds, &[KeyValue::new("state", state)]);
}

/// One delivery attempt to `domain` ended with `outcome`.
pub fn delivery_attempt(domain: &str, outcome: &'static str) {
    instruments().attempts.add(
        1,
        &[
            KeyValue::new("domain", domain.to_string()),
            KeyValue::new("outcome", outcome),
        ],
    );
}

/// A delivery to `domain` finished with `outcome`, `seconds` after its first attempt.
pub fn delivery_finished(domain: &str, outcome: &'static str, seconds: f64) {
    instruments().delivery.record(
        seconds,
        &[
            KeyValue::new("domain", domain.to_string()),
            KeyValue::new("outcome", outcome),
        ],
    );
}
