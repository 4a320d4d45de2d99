//! What a step of a rollout returns: actions as data, carried out by whoever owns the I/O,
//! and the reasons sites hold a rollout (timestamps, never ages, so they never go stale).

use super::state::AbortReason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the caller must do: data, carried out by whoever owns the I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Move these sites of this wave to the new generation.
    StartSites {
        /// Index of the wave.
        wave: usize,
        /// Site names.
        sites: Vec<String>,
    },
    /// The previous wave passed; this wave starts.
    Advance {
        /// Index of the wave now rolling.
        wave: usize,
    },
    /// The rollout is aborted.
    Abort {
        /// Why.
        reason: AbortReason,
    },
    /// Return these sites (every one that changed) to the previous generation.
    RollBack {
        /// Site names.
        sites: Vec<String>,
    },
    /// Every site that changed is back at the previous generation.
    RolledBack,
    /// Every wave passed.
    Complete,
    /// These sites hold the rollout, for these reasons (sent when the reasons change).
    Wait {
        /// Reason by site name.
        sites: BTreeMap<String, WaitReason>,
    },
}

/// Why a site holds the rollout for now (timestamps, never ages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// Started, not yet healthy at the new generation.
    Converging {
        /// When it was started.
        started_ms: i64,
    },
    /// Healthy at the new generation; counts once a report after this time confirms it.
    Baking {
        /// End of the bake time.
        until_ms: i64,
    },
    /// Not heard within the report timeout; it holds its wave.
    NotReporting {
        /// When it was last heard (`None` = never).
        last_heard_ms: Option<i64>,
    },
    /// A maintenance window holds disruptive changes at the site.
    Maintenance {
        /// As the site's policy said it.
        reason: String,
    },
    /// As many sites as allowed are changing already.
    MaxChanging {
        /// The limit.
        limit: u32,
    },
    /// Told to return to the previous generation, not there yet.
    Returning {
        /// When it was told.
        since_ms: i64,
    },
}
