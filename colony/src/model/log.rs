//! Process log lines.

use serde::{Deserialize, Serialize};

/// One log line written by the executor running a process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Log {
    /// Process the line belongs to.
    #[serde(rename = "processid", default)]
    pub process_id: String,
    /// Colony of the process.
    #[serde(rename = "colonyname", default)]
    pub colony_name: String,
    /// Name of the executor that wrote the line.
    #[serde(rename = "executorname", default)]
    pub executor_name: String,
    /// The text.
    #[serde(default)]
    pub message: String,
    /// Unix time in nanoseconds.
    #[serde(default)]
    pub timestamp: i64,
}
