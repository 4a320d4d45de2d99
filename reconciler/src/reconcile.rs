//! The one trait a kind of blueprint implements.

use std::collections::BTreeSet;

use async_trait::async_trait;
use colony::model::Blueprint;

use crate::Error;
use crate::status::Status;
use crate::verdict::{Judgement, Verdict};

/// What applying steps did: one log line per step done, one per step that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Steps done.
    pub done: Vec<String>,
    /// Steps that failed.
    pub errors: Vec<String>,
}

impl Outcome {
    /// One step done.
    pub fn done(line: impl Into<String>) -> Self {
        Self {
            done: vec![line.into()],
            errors: Vec::new(),
        }
    }

    /// One step failed.
    pub fn failed(line: impl Into<String>) -> Self {
        Self {
            done: Vec::new(),
            errors: vec![line.into()],
        }
    }

    /// Appends `other`.
    pub fn extend(&mut self, other: Outcome) {
        self.done.extend(other.done);
        self.errors.extend(other.errors);
    }
}

/// A reconciler of one or more blueprint kinds. The framework's [`crate::Driver`] calls it as
/// `desired` → `observe` → `plan` → `apply` (each step) → `observe` → `judge` → `status`; with no desired
/// state (the blueprint is gone, a cleanup, an orphan) `plan` gets `None` and must plan the
/// removal of everything observed. Every step must be idempotent.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// The desired state of one blueprint, parsed from its spec.
    type Desired: Send + Sync;
    /// What runs for one blueprint.
    type Observed: Send + Sync;
    /// One step of a plan.
    type Action: Send;

    /// The blueprint kinds it owns.
    fn kinds(&self) -> &'static [&'static str];

    /// Parses the desired state of `bp`; `Err` names the invalid field.
    fn desired(&self, bp: &Blueprint) -> Result<Self::Desired, String>;

    /// Observes what runs for the blueprint `name`.
    async fn observe(&self, name: &str) -> Result<Self::Observed, Error>;

    /// Pure: the steps that make `observed` equal to `desired` (remove everything when `None`).
    fn plan(&self, desired: Option<&Self::Desired>, observed: &Self::Observed)
    -> Vec<Self::Action>;

    /// Applies one step for the blueprint `name`.
    async fn apply(
        &self,
        name: &str,
        desired: Option<&Self::Desired>,
        observed: &Self::Observed,
        action: Self::Action,
    ) -> Outcome;

    /// The blueprint's status: what runs (`observed`) against what is asked (`desired`, `None`
    /// when the spec is invalid).
    fn status(&self, desired: Option<&Self::Desired>, observed: &Self::Observed) -> Status;

    /// Judges the health of the blueprint `name` once per convergence, from the final
    /// observation (after the last round, before [`Reconciler::status`]): a reconciler that
    /// counts failed health checks across convergences, and falls back from a spec that keeps
    /// failing, updates its count here and returns the verdict for the status. Not called for
    /// an invalid spec. No verdict by default.
    fn judge(
        &self,
        _name: &str,
        _desired: &Self::Desired,
        _observed: &Self::Observed,
    ) -> Judgement {
        Judgement::default()
    }

    /// Names of the blueprints something of this reconciler exists for (orphans are those
    /// whose blueprint is gone).
    async fn existing(&self) -> Result<BTreeSet<String>, Error>;
}

/// What one convergence of one blueprint produced (before anything is written to the colony).
#[derive(Debug, Clone, PartialEq)]
pub struct Converged {
    /// The steps done and failed.
    pub outcome: Outcome,
    /// The status to write.
    pub status: Status,
    /// The status message: why the spec is invalid, or the failed steps, the verdict and the
    /// judgement's notes.
    pub message: Option<String>,
    /// Why the spec is invalid (nothing was changed then).
    pub invalid_spec: Option<String>,
    /// The reconciler's health verdict ([`Reconciler::judge`]).
    pub verdict: Option<Verdict>,
    /// Lines to log at warn level ([`Reconciler::judge`]).
    pub warnings: Vec<String>,
}

/// Most plan/apply rounds of one convergence (a rollout of N instances takes about 2N).
pub const MAX_ROUNDS: usize = 2 * 256 + 8;

/// Converges `bp` through `r`: `desired`, then rounds of `observe` → `plan` → `apply` each step
/// (continuing past failures within a round) until the plan is empty, a round fails or
/// [`MAX_ROUNDS`] is reached, then `observe` → `status`. Rounds let a reconciler roll a change
/// out step by step (start a new instance, stop the old one once the new one runs). After the
/// last observation `judge` gives the health verdict; the message is the failed steps, the
/// verdict's sentence and the judgement's notes. An invalid spec changes nothing. No colony
/// I/O: the caller writes the status and the log lines.
pub async fn converge_blueprint<R: Reconciler>(r: &R, bp: &Blueprint) -> Result<Converged, Error> {
    let name = &bp.metadata.name;
    let desired = match r.desired(bp) {
        Ok(d) => d,
        Err(reason) => {
            let observed = r.observe(name).await?;
            return Ok(Converged {
                outcome: Outcome::default(),
                status: r.status(None, &observed),
                message: Some(format!("invalid spec: {reason}")),
                invalid_spec: Some(reason),
                verdict: None,
                warnings: Vec::new(),
            });
        }
    };
    let mut outcome = Outcome::default();
    for _ in 0..MAX_ROUNDS {
        let observed = r.observe(name).await?;
        let actions = r.plan(Some(&desired), &observed);
        if actions.is_empty() {
            break;
        }
        let mut round = Outcome::default();
        for action in actions {
            round.extend(r.apply(name, Some(&desired), &observed, action).await);
        }
        let failed = !round.errors.is_empty();
        outcome.extend(round);
        if failed {
            // The next convergence (a trigger, the periodic recheck) tries again.
            break;
        }
    }
    let observed = r.observe(name).await?;
    let Judgement {
        verdict,
        warnings,
        notes,
    } = r.judge(name, &desired, &observed);
    let mut lines = outcome.errors.clone();
    lines.extend(verdict.as_ref().map(Verdict::sentence));
    lines.extend(notes);
    Ok(Converged {
        message: (!lines.is_empty()).then(|| lines.join("; ")),
        status: r.status(Some(&desired), &observed),
        outcome,
        invalid_spec: None,
        verdict,
        warnings,
    })
}

/// Removes what exists for the blueprint `name` through `r` (its plan with no desired state).
pub async fn remove_blueprint<R: Reconciler>(r: &R, name: &str) -> Result<Outcome, Error> {
    let observed = r.observe(name).await?;
    let mut outcome = Outcome::default();
    for action in r.plan(None, &observed) {
        outcome.extend(r.apply(name, None, &observed, action).await);
    }
    Ok(outcome)
}
