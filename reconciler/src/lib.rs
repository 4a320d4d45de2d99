//! The reconciler framework of a Maestro site, and the built-in native kinds.
//!
//! A kind of blueprint is converged by one [`Reconciler`]: it parses a blueprint's desired state,
//! observes what runs, plans the steps between them with a pure function, applies one step at a
//! time, describes the result as a [`Status`] and may judge its health across convergences
//! ([`Judgement`]). Everything around that is written once, here:
//! the [`Driver`] (fetch the blueprint, location filter, one convergence at a time, invalid specs,
//! removal of what no blueprint asks for any more, writing the blueprint status, logs) and the
//! ColonyOS executor loop ([`executor::run`]: assign, resume orphaned processes, close, backoff).
//! A [`Registration`] tells a site agent what a kind needs (executor type, blueprint definitions,
//! settings) and starts it on a [`Host`].
//!
//! Invariants: a reconciler only touches what it created (its own labels, table or manifest);
//! apply and cleanup are idempotent and tolerate apply never having run; stopping the host never
//! stops workloads; one convergence per reconciler runs at a time.

pub mod config_file;
mod driver;
mod error;
pub mod executor;
pub mod fallback;
mod host;
mod metrics;
pub mod process;
mod reconcile;
mod status;
pub mod values;
mod verdict;

pub use driver::{Driver, Target};
pub use error::Error;
pub use host::{
    DiscardRecorder, Host, Level, MemoryRecorder, Recorder, Registration, definition_from_contract,
    executor_name, parse_settings,
};
pub use reconcile::{Converged, Outcome, Reconciler, converge_blueprint, remove_blueprint};
pub use status::{InstanceStatus, Status, without_times};
pub use verdict::{Judgement, Verdict};
