//! Rollouts: an order item's change travels over its target sites in waves, each gated on the
//! health of the sites it changed, with automatic abort and rollback of exactly the sites that
//! changed. Everything here is pure — no I/O, no clock: [`strategy`] (what the operator asks,
//! validated), [`waves`] (which sites go in which wave), [`state`] (the rollout as stored),
//! [`input`] (site reports and operator commands), [`action`] (what a step asks for, as data)
//! and [`machine`] (`step`). Not wired into the engine, the API or the CLI yet
//! (`docs/rollouts.md`).

pub mod action;
pub mod input;
pub mod machine;
mod observe;
pub mod state;
pub mod strategy;
pub mod waves;

#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod simulation_tests;
#[cfg(test)]
mod site_tests;
#[cfg(test)]
mod strategy_tests;

pub use action::{Action, WaitReason};
pub use input::{Command, Health, Input, SiteReport};
pub use machine::step;
pub use state::{AbortReason, Failure, Phase, Rollout, SiteState, WaveTally};
pub use strategy::{LabelMatch, SilentPolicy, SiteOrder, Strategy, Threshold, WaveGate, WaveSizes};
pub use waves::{TargetSite, plan_waves};
