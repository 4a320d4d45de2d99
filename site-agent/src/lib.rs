//! The Maestro site agent (`site_agent`): runs at a site, keeps the site's ColonyOS colony in
//! step with the blueprint files of the domain's Git repository (in the order their
//! `maestro.io/depends-on` annotations ask for), hosts the reconcilers of [`reconcilers`]
//! (ColonyOS executors: native processes, config files, Docker when enabled), and reports blueprint
//! status, logs and heartbeats to the domain's log server through an on-disk outbox.
//!
//! Invariants: the agent only dials out (Git, log server, its colony); it only touches colony
//! blueprints carrying the `maestro.io/intent-id` annotation; it never removes a blueprint
//! because Git was unreachable; records are numbered per stream and stay on disk until the log
//! server acknowledged them; stopping the agent never stops the workloads it started.

mod agent;
pub mod bootstrap;
pub mod capacity;
mod config;
pub mod context;
mod error;
pub mod gitsync;
pub mod keys;
pub mod metrics;
pub mod outbox;
pub mod panic_report;
pub mod pause;
pub mod reconcilers;
mod recorder;
pub mod report;

pub use agent::{COLONY_DIR, DB_DIR, GIT_DIR, LOG_DIR, Running, run, run_with};
pub use config::Config;
pub use error::Error;
pub use reconciler::process::launch::{self, HelperCommand, Launcher};
pub use recorder::SiteRecorder;

/// Stops every native process instance recorded in the agent database under `data_dir` (SIGTERM,
/// then SIGKILL) and forgets it; returns how many were stopped. Only for when the agent is not
/// running (tests, decommissioning a site): a normal agent shutdown leaves workloads running.
pub async fn stop_all_instances(data_dir: &std::path::Path) -> Result<usize, Error> {
    let db = agent::open_db(&data_dir.join(DB_DIR)).await?;
    let stopped = reconciler::process::stop_all_instances(&db).await?;
    maestro_common::durable::flush(&db).await?;
    Ok(stopped)
}
