//! The process reconciler: converges `ProcessDeployment` blueprints into native processes on
//! this machine (executor type `process-reconciler`).
//!
//! Invariants: every started process is recorded (pid, blueprint, generation, index, start time)
//! in sled before anything else relies on it; a pid is only signalled after `/proc` shows it is
//! still the instance we started (labels in its environment, same start time); stopping the
//! agent never stops workloads.

pub mod crash_loop;
mod ends;
mod heal;
pub mod health;
mod judge;
pub mod launch;
pub mod output;
pub mod plan;
mod reconcile;
mod registration;
pub mod runtime;
mod scan;
pub mod spec;
mod start;
pub mod table;
mod watch;

use std::time::Duration;

pub use launch::{ExitEvent, HelperCommand, Launcher};
pub use reconcile::{ObservedInstance, ProcessDesired, ProcessReconciler, Step};
pub use registration::{LOG_DIR, ProcessRegistration};
pub use runtime::ProcessRuntime;
pub use spec::{EXECUTOR_TYPE, KIND, ProcessSpec};
pub use table::{Instance, InstanceTable};

use crate::Error;

/// Grace period between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Stops every instance recorded in `db` (SIGTERM, then SIGKILL) and forgets it; returns how
/// many were stopped. Only for when no agent runs on `db` (tests, decommissioning a site): a
/// normal agent shutdown leaves workloads running.
pub async fn stop_all_instances(db: &sled::Db) -> Result<usize, Error> {
    let table = InstanceTable::open(db)?;
    let mut stopped = 0;
    for instance in table.all()? {
        if runtime::is_alive(&instance) {
            runtime::stop(&instance, Duration::from_secs(2)).await?;
            stopped += 1;
        }
        table.remove(&instance.blueprint, instance.pid)?;
    }
    Ok(stopped)
}
