//! The Maestro site agent (`site_agent`): runs at a site, keeps the site's ColonyOS colony in
//! step with the blueprint files of the domain's Git repository (in the order their
//! `maestro.io/depends-on` annotations ask for), hosts the native process reconciler and, when
//! Docker is enabled, the Docker reconciler (both ColonyOS executors), and reports blueprint
//! status, logs and heartbeats to the domain's log server through an on-disk outbox.
//!
//! Invariants: the agent only dials out (Git, log server, its colony); it only touches colony
//! blueprints carrying the `maestro.io/intent-id` annotation; it never removes a blueprint
//! because Git was unreachable; records are numbered per stream and stay on disk until the log
//! server acknowledged them; stopping the agent never stops the workloads it started.

mod agent;
pub mod bootstrap;
mod config;
pub mod context;
mod error;
pub mod gitsync;
pub mod keys;
pub mod outbox;
pub mod reconciler;
pub mod report;

pub use agent::{COLONY_DIR, DB_DIR, GIT_DIR, LOG_DIR, Running, run};
pub use config::{Config, DockerMode};
pub use error::Error;
pub use reconciler::stop_all_instances;
