//! Executors: the workers of a colony.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::time::zero_time;

/// Approval state of an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorState {
    /// Registered, waiting for the colony owner.
    Pending,
    /// Approved: may assign processes.
    Approved,
    /// Rejected by the colony owner.
    Rejected,
    /// Removed by the colony owner; kept for traceability, as upstream does.
    Unregistered,
}

impl ExecutorState {
    /// The wire value (0 pending, 1 approved, 2 rejected, 3 unregistered).
    pub fn as_i32(self) -> i32 {
        match self {
            Self::Pending => 0,
            Self::Approved => 1,
            Self::Rejected => 2,
            Self::Unregistered => 3,
        }
    }
}

fn default_capabilities() -> Value {
    json!({"hardware": [], "software": []})
}

fn default_allocations() -> Value {
    json!({"projects": {}})
}

/// An executor registered in a colony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executor {
    /// Identity of the executor's own key.
    #[serde(rename = "executorid", default)]
    pub executor_id: String,
    /// Executor type, matched against `conditions.executortype`.
    #[serde(rename = "executortype", default)]
    pub executor_type: String,
    /// Name, unique in the colony.
    #[serde(rename = "executorname", default)]
    pub executor_name: String,
    /// Colony the executor belongs to.
    #[serde(rename = "colonyname", default)]
    pub colony_name: String,
    /// 0 pending, 1 approved, 2 rejected.
    #[serde(default)]
    pub state: i32,
    /// Whether functions must be registered before use.
    #[serde(rename = "requirefuncreg", default)]
    pub require_func_reg: bool,
    /// When the executor was added.
    #[serde(rename = "commissiontime", default = "zero_time")]
    pub commission_time: DateTime<Utc>,
    /// When the executor last called the server.
    #[serde(rename = "lastheardfromtime", default = "zero_time")]
    pub last_heard_from_time: DateTime<Utc>,
    /// Location name, matched against `conditions.locationname`.
    #[serde(
        rename = "locationname",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub location_name: String,
    /// Hardware and software capabilities (free-form).
    #[serde(default = "default_capabilities")]
    pub capabilities: Value,
    /// Resource allocations (free-form).
    #[serde(default = "default_allocations")]
    pub allocations: Value,
    /// Blueprint that manages this executor, if any.
    #[serde(
        rename = "blueprintid",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub blueprint_id: String,
    /// Generation of that blueprint.
    #[serde(rename = "blueprintgen", default, skip_serializing_if = "is_zero")]
    pub blueprint_gen: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl Default for Executor {
    fn default() -> Self {
        Self {
            executor_id: String::new(),
            executor_type: String::new(),
            executor_name: String::new(),
            colony_name: String::new(),
            state: 0,
            require_func_reg: false,
            commission_time: zero_time(),
            last_heard_from_time: zero_time(),
            location_name: String::new(),
            capabilities: default_capabilities(),
            allocations: default_allocations(),
            blueprint_id: String::new(),
            blueprint_gen: 0,
        }
    }
}

impl Executor {
    /// A pending executor with the given identity, type, name and colony.
    pub fn new(executor_id: &str, executor_type: &str, name: &str, colony_name: &str) -> Self {
        Self {
            executor_id: executor_id.to_owned(),
            executor_type: executor_type.to_owned(),
            executor_name: name.to_owned(),
            colony_name: colony_name.to_owned(),
            ..Self::default()
        }
    }
}
