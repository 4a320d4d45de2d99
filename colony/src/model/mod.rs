//! Serde types with the exact ColonyOS v1.9.12 JSON field names.
//!
//! Every collection field accepts `null` (Go encodes nil slices and maps as `null`) and every
//! field has a default, so partial inputs deserialize; replies always carry every field.

mod blueprint;
mod colony;
mod executor;
mod log;
mod nullable;
mod process;
mod time;

pub use blueprint::{
    Blueprint, BlueprintDefinition, BlueprintDefinitionNames, BlueprintDefinitionSpec,
    BlueprintHistory, BlueprintMetadata, HandlerSpec,
};
pub use colony::{Colony, User};
pub use executor::{Executor, ExecutorState};
pub use log::Log;
pub use process::{Conditions, FunctionSpec, Process, ProcessState};
pub use time::zero_time;
