//! Maestro, the central coordinator: takes TMF641-shaped service orders over gRPC, validates them
//! against the service catalog and the domain registry, fans one intent per (item, domain) out
//! to the domain orchestrators, and rolls their intent statuses up into order state.
//!
//! Invariants: nothing is acknowledged before it is flushed to sled; an order, its inventory
//! changes and its outbox entries are written in one transaction; an outbox entry is removed
//! only together with the recorded delivery outcome; the roll-up ([`rollup::roll_up`]) is a pure
//! function; final orders and items never change state again.
//!
//! Shape (the domain orchestrator's controller, copied): [`plan::plan`] decides what an order
//! does from the request and the current state, without I/O; a [`store::OrderStore`] only
//! persists that decision; [`engine::Engine`] is the controller that reads the state, plans,
//! persists, hands outbox entries to [`delivery`] (its own component: work in through a
//! channel, reports out as data, one long-lived channel per domain from [`domain_channels`])
//! and re-runs the roll-up on reports, statuses and liveness. [`order_watch`] and
//! [`order_logs`] serve the streaming calls; the handlers in [`api`] only convert and map
//! errors.

pub mod api;
pub use maestro_common::catalog;
pub mod config;
pub mod delivery;
pub mod domain_channels;
pub mod dry_run;
pub mod engine;
pub mod error;
pub mod idempotency;
pub mod intent;
pub mod inventory;
pub mod metrics;
pub mod model;
pub mod offers;
pub mod order_logs;
pub mod order_watch;
pub mod placement;
pub mod plan;
pub mod registry;
pub mod request;
pub mod resolve;
pub mod rollout;
pub mod rollup;
pub mod server;
pub mod status_watch;
pub mod store;
pub mod times_alone;

#[cfg(test)]
mod fixtures;

pub use config::Config;
pub use error::Error;
pub use rollup::roll_up;
pub use server::{Running, run};
