//! The domain orchestrator: accepts intents from maestro, stores them durably with
//! generations (sled), reconciles each one into ColonyOS blueprints committed to the domain's
//! Git repository, follows site status from the domain's log server and reports intent status.
//!
//! Invariants: an intent is acknowledged only after it is flushed to sled; a lower or equal
//! (generation, rollout step) never overwrites a stored one; a commit is made only when the
//! desired tree differs from the branch head; at most one reconcile per intent runs at a time;
//! every Git write is serialised.

pub mod announce;
pub mod api;
pub mod capacity;
pub mod config;
pub mod context;
pub mod controller;
pub mod disclosure;
pub mod error;
pub mod follower;
pub mod git;
pub mod hub;
pub mod intent;
pub mod liveness;
pub mod metrics;
pub mod offered;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod registration;
pub mod run;
pub mod service;
pub mod signing;
pub mod source;
pub mod status;
pub mod store;
pub mod translator;
pub mod windows;

pub use config::Config;
pub use error::Error;
pub use run::{Running, run, run_with_context};
