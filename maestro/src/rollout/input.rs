//! What one step of a rollout reads besides its state and the time: what each site last
//! reported, and an operator's command. Times are ms since the epoch.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Start no more sites and advance no wave.
    Pause,
    /// Carry on after a pause.
    Resume,
    /// Stop and return every site that changed to the previous generation.
    Abort,
}

/// How a site's workload is, as the site last reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Nothing known.
    #[default]
    Unknown,
    /// Not healthy yet (starting, converging).
    Progressing,
    /// Healthy since this time.
    Healthy {
        /// Since when.
        since_ms: i64,
    },
    /// Failed.
    Failed {
        /// Why.
        reason: String,
        /// Failed attempts in a row.
        attempts: u32,
    },
}

/// What is known about one site (the default: never heard).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteReport {
    /// Generation the site runs (0 = none).
    pub generation: u64,
    /// Its health at that generation.
    pub health: Health,
    /// It returned by itself from this generation to its previous one after repeated failures.
    pub fell_back_from: Option<u64>,
    /// When it was last heard (0 = never).
    pub last_heard_ms: i64,
    /// A maintenance window holds disruptive changes, with its reason.
    pub maintenance: Option<String>,
}

/// What one step reads besides the state and the time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// Reports by site name (a site without one was never heard).
    pub reports: BTreeMap<String, SiteReport>,
    /// An operator's command, if one arrived.
    pub command: Option<Command>,
}
