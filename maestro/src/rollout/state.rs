//! The state of a rollout, stored as it is: its waves, its phase, what happened to each site and
//! the waves that passed. Times are ms since the epoch, only ever stored, never read from a
//! clock.

use super::action::WaitReason;
use super::strategy::{Strategy, WaveGate};
use super::waves::{TargetSite, plan_waves};
use maestro_common::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Created; nothing started.
    Pending,
    /// Sites of this wave are being started or are converging.
    Rolling {
        /// Index of the wave.
        wave: usize,
    },
    /// Every site of this wave converged; waiting for the bake time.
    Baking {
        /// Index of the wave.
        wave: usize,
    },
    /// An operator paused the rollout: no site starts and no wave advances.
    Paused {
        /// The wave that resumes.
        wave: usize,
        /// When it was paused.
        at_ms: i64,
    },
    /// Aborted: the sites that changed are returning to the previous generation.
    RollingBack {
        /// Why.
        reason: AbortReason,
    },
    /// Every site that changed is back at the previous generation (final).
    RolledBack {
        /// Why it was aborted.
        reason: AbortReason,
    },
    /// Every wave met its success threshold (final).
    Completed,
}

impl Phase {
    /// Whether nothing changes any more.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::RolledBack { .. } | Self::Completed)
    }
}

/// Why a rollout was aborted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortReason {
    /// An operator aborted it.
    Operator,
    /// Too many sites of a wave failed.
    FailureThreshold {
        /// Index of the wave.
        wave: usize,
        /// Failed sites.
        failed: usize,
        /// The failures that abort.
        limit: usize,
    },
    /// Every site of a wave settled and too few succeeded.
    SuccessThresholdUnmet {
        /// Index of the wave.
        wave: usize,
        /// Succeeded sites.
        succeeded: usize,
        /// The successes needed.
        required: usize,
    },
}

/// Why a site that was started counts as failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// It reported a failure at the new generation.
    Unhealthy {
        /// As the site said it.
        reason: String,
    },
    /// It was not heard within the report timeout (under the `fail` policy).
    NotReporting {
        /// When it was last heard (`None` = never).
        last_heard_ms: Option<i64>,
    },
    /// It failed repeatedly at the new generation and returned to the previous one by itself.
    FellBack {
        /// Failed attempts it reported (`fall_back_after` when it only said it fell back).
        attempts: u32,
    },
}

/// What happened to one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteState {
    /// Not started: still at the previous generation.
    Waiting,
    /// Told to move to the new generation.
    Started {
        /// When.
        at_ms: i64,
    },
    /// Healthy at the new generation for the bake time, confirmed by a report after it.
    Succeeded {
        /// When it was recorded.
        at_ms: i64,
    },
    /// Counts as failed.
    Failed {
        /// When it was recorded.
        at_ms: i64,
        /// Why.
        failure: Failure,
    },
    /// Being returned to the previous generation by an abort.
    RollingBack {
        /// When it was told.
        at_ms: i64,
    },
    /// Back at the previous generation.
    RolledBack {
        /// When it was recorded.
        at_ms: i64,
    },
}

impl SiteState {
    /// Whether the site was ever told to move to the new generation.
    pub fn changed(&self) -> bool {
        !matches!(self, Self::Waiting)
    }
}

/// The tally of a wave that passed its gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveTally {
    /// Succeeded sites.
    pub succeeded: usize,
    /// Failed sites.
    pub failed: usize,
    /// Successes the gate required.
    pub required: usize,
}

/// One rollout of one order item: everything `step` needs, stored as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// The generation sites leave (0 = nothing ran before).
    pub previous_generation: u64,
    /// The generation sites move to.
    pub generation: u64,
    /// The gate of every wave.
    pub gate: WaveGate,
    /// Most sites changing at once.
    pub max_changing: u32,
    /// Site names of each wave.
    pub waves: Vec<Vec<String>>,
    /// Where it stands.
    pub phase: Phase,
    /// Every target site's record.
    pub sites: BTreeMap<String, SiteState>,
    /// Tallies of the waves that passed, in order.
    pub passed: Vec<WaveTally>,
    /// The wait reasons last sent.
    pub waiting: BTreeMap<String, WaitReason>,
}

impl Rollout {
    /// A pending rollout of `targets` from `previous_generation` to `generation`.
    pub fn new(
        strategy: &Strategy,
        targets: &[TargetSite],
        previous_generation: u64,
        generation: u64,
    ) -> Result<Self, FieldError> {
        strategy.validate().map_err(|e| e.within("strategy"))?;
        if generation <= previous_generation {
            return Err(FieldError::new(
                "generation",
                "must be greater than the previous generation",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, t) in targets.iter().enumerate() {
            let at = format!("targets[{i}].name");
            // A site, or a site of a domain (`domain/site`): both parts valid names.
            for part in t.name.splitn(2, '/') {
                maestro_common::names::validate_name(&at, part)?;
            }
            if !seen.insert(t.name.as_str()) {
                return Err(FieldError::new(
                    format!("targets[{i}].name"),
                    "names a site twice",
                ));
            }
        }
        Ok(Self {
            previous_generation,
            generation,
            gate: strategy.gate.clone(),
            max_changing: strategy.max_changing,
            waves: plan_waves(strategy, targets),
            phase: Phase::Pending,
            sites: targets
                .iter()
                .map(|t| (t.name.clone(), SiteState::Waiting))
                .collect(),
            passed: Vec::new(),
            waiting: BTreeMap::new(),
        })
    }

    /// Sites started and not yet succeeded or failed.
    pub fn changing(&self) -> usize {
        self.sites
            .values()
            .filter(|s| matches!(s, SiteState::Started { .. }))
            .count()
    }
}
