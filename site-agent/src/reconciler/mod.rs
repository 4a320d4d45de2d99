//! The process reconciler: a ColonyOS executor of type `process-reconciler` that converges
//! `ProcessDeployment` blueprints into native processes on this machine.
//!
//! Invariants: every started process is recorded (pid, blueprint, generation, index, start time)
//! in sled before anything else relies on it; a pid is only signalled after `/proc` shows it is
//! still the instance we started (labels in its environment, same start time); stopping the
//! agent never stops workloads; one convergence runs at a time.

mod converge;
mod executor;
mod heal;
pub mod output;
pub mod plan;
pub mod runtime;
pub mod spec;
mod status;
pub mod table;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use converge::Actions;
pub use runtime::{ExitEvent, ProcessRuntime};
pub use spec::{EXECUTOR_TYPE, KIND, ProcessSpec};
pub use table::{Instance, InstanceTable};

use crate::Error;
use crate::context::SiteContext;

/// Grace period between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Name of the reconciler executor of `site`.
pub fn executor_name(site: &str) -> String {
    format!("process-reconciler-{site}")
}

/// The process reconciler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessReconciler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ctx: SiteContext,
    table: InstanceTable,
    runtime: ProcessRuntime,
    output: output::OutputForwarder,
    lock: tokio::sync::Mutex<()>,
    grace: Duration,
}

impl ProcessReconciler {
    /// Starts the reconciler: its executor loop (assign, reconcile/cleanup, close) and its
    /// self-heal loop (child exits and liveness checks), both on `tracker` until `shutdown`.
    /// Instances recorded by an earlier run are re-adopted, not restarted.
    pub fn start(
        ctx: SiteContext,
        log_dir: &Path,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, Error> {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let table = InstanceTable::open(&ctx.db)?;
        let runtime = ProcessRuntime::new(
            &ctx.site,
            log_dir,
            exits_tx,
            shutdown.clone(),
            tracker.clone(),
        );
        let output = output::OutputForwarder::open(&ctx.db, log_dir)?;
        let reconciler = Self {
            inner: Arc::new(Inner {
                ctx,
                table,
                runtime,
                output,
                lock: tokio::sync::Mutex::new(()),
                grace: STOP_GRACE,
            }),
        };
        tracker.spawn(executor::run(reconciler.clone(), shutdown.clone()));
        tracker.spawn(heal::run(reconciler.clone(), exits_rx, shutdown));
        Ok(reconciler)
    }

    /// The instance table.
    pub fn table(&self) -> &InstanceTable {
        &self.inner.table
    }
}

/// Stops every instance recorded in the agent database under `data_dir` (SIGTERM, then SIGKILL)
/// and forgets it; returns how many were stopped. Only for when the agent is not running (tests,
/// decommissioning a site): a normal agent shutdown leaves workloads running.
pub async fn stop_all_instances(data_dir: &Path) -> Result<usize, Error> {
    let db = crate::agent::open_db(&data_dir.join(crate::agent::DB_DIR)).await?;
    let table = InstanceTable::open(&db)?;
    let mut stopped = 0;
    for instance in table.all()? {
        if runtime::is_alive(&instance) {
            runtime::stop(&instance, Duration::from_secs(2)).await?;
            stopped += 1;
        }
        table.remove(&instance.blueprint, instance.pid)?;
    }
    maestro_common::durable::flush(&db).await?;
    Ok(stopped)
}
