//! Rollouts: an order item's change travels over its target sites in waves, each gated on the
//! health of the sites it changed, with automatic abort and rollback of exactly the sites that
//! changed. Everything here is pure — no I/O, no clock: [`strategy`] (what the operator asks,
//! validated), [`waves`] (which sites go in which wave), [`state`] (the rollout as stored),
//! [`input`] (site reports and operator commands), [`action`] (what a step asks for, as data)
//! and [`machine`] (`step`). Wiring them to orders, pure as well: [`item`] (the rollout stored
//! with an order item), [`start`] (its first step when the order is planned) and [`drive`]
//! (a step on every roll-up, from what the sites reported) (`docs/rollouts.md`).

pub mod action;
pub mod drive;
pub mod input;
pub mod item;
pub mod machine;
mod observe;
pub(crate) mod reports;
pub mod start;
pub mod state;
pub mod strategy;
pub mod view;
pub mod waves;

#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod drive_tests;
#[cfg(test)]
pub(crate) mod fixtures;
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
pub use drive::drive_order;
pub use input::{Command, Health, Input, SiteReport};
pub use item::ItemRollout;
pub use machine::step;
pub use state::{AbortReason, Failure, Phase, Rollout, SiteState, WaveTally};
pub use strategy::{LabelMatch, SilentPolicy, SiteOrder, Strategy, Threshold, WaveGate, WaveSizes};
pub use waves::{TargetSite, plan_waves};
