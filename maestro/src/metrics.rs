//! Maestro's own instruments (see `maestro_common::telemetry::metrics`):
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `maestro.orders.created` | `{order}` | — (a replayed idempotency key is not counted) |
//! | `maestro.order.duration` | `s` | `state`: how the order ended |
//! | `maestro.fanout.attempts` | `{attempt}` | `domain`, `outcome`: `acknowledged`, `rejected`, `failed` |
//! | `maestro.fanout.delivery.duration` | `s` | `domain`, `outcome`: from the first attempt to the domain's answer |
//! | `maestro.orders.open` | `{order}` | `state`: orders not final yet, by state (the ended ones are counted by `maestro.order.duration`) |
//!
//! The gauge reads a map of the open orders kept here (the engine re-rolls every open order at
//! start, which fills it), never the store.

use crate::model::{Order, OrderState};
use maestro_common::telemetry::metrics::meter;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Bucket bounds in seconds for things that take from milliseconds to hours.
const LONG_BOUNDS: [f64; 16] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
    86400.0,
];

struct Instruments {
    _open: opentelemetry::metrics::ObservableGauge<u64>,
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
            _open: m
                .u64_observable_gauge("maestro.orders.open")
                .with_unit("{order}")
                .with_description("Orders not final yet, by state")
                .with_callback(|gauge| {
                    let open = open().lock().unwrap_or_else(|p| p.into_inner());
                    let mut by_state: HashMap<&'static str, u64> = HashMap::new();
                    for state in open.values() {
                        *by_state.entry(state).or_default() += 1;
                    }
                    for state in OPEN_STATES {
                        let n = by_state.get(state).copied().unwrap_or(0);
                        gauge.observe(n, &[KeyValue::new("state", state)]);
                    }
                })
                .build(),
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

/// States an open order can be in, all reported (0 included) so a graph has no gaps.
const OPEN_STATES: [&str; 4] = ["acknowledged", "inProgress", "pending", "held"];

/// The open orders and their states.
fn open() -> &'static Mutex<HashMap<String, &'static str>> {
    static OPEN: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// The TMF641 name of a state, as every label here spells it.
fn state_name(state: OrderState) -> &'static str {
    match state {
        OrderState::Acknowledged => "acknowledged",
        OrderState::Rejected => "rejected",
        OrderState::Pending => "pending",
        OrderState::Held => "held",
        OrderState::InProgress => "inProgress",
        OrderState::Cancelled => "cancelled",
        OrderState::Completed => "completed",
        OrderState::Failed => "failed",
        OrderState::Partial => "partial",
    }
}

/// `order` was stored in its current state: tracked while open, forgotten once final.
pub fn order_state(order: &Order) {
    instruments();
    let mut open = open().lock().unwrap_or_else(|p| p.into_inner());
    if order.state.is_final() {
        open.remove(&order.id);
    } else {
        open.insert(order.id.clone(), state_name(order.state));
    }
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
    instruments()
        .order_duration
        .record(seconds, &[KeyValue::new("state", state_name(order.state))]);
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
