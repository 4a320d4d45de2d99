//! Function specs and processes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::nullable::nullable;
use super::time::zero_time;

/// Lifecycle state of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessState {
    /// Queued, not yet assigned (0).
    Waiting,
    /// Assigned to an executor (1).
    Running,
    /// Closed successfully (2).
    Success,
    /// Closed as failed (3).
    Failed,
    /// Cancelled (4).
    Cancelled,
}

impl ProcessState {
    /// The wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            Self::Waiting => 0,
            Self::Running => 1,
            Self::Success => 2,
            Self::Failed => 3,
            Self::Cancelled => 4,
        }
    }

    /// Parses a wire value; `None` for unknown values.
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            0 => Self::Waiting,
            1 => Self::Running,
            2 => Self::Success,
            3 => Self::Failed,
            4 => Self::Cancelled,
            _ => return None,
        })
    }
}

fn default_gpu() -> Value {
    json!({"name": "", "mem": "", "count": 0, "nodecount": 0})
}

fn default_fs() -> Value {
    json!({"mount": "", "snapshots": [], "dirs": []})
}

/// Where and by whom a function may run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// Colony the process is submitted to.
    #[serde(rename = "colonyname", default)]
    pub colony_name: String,
    /// When non-empty, only executors with one of these names may run it. `None` is upstream's
    /// nil list (`null` on the wire), as in the processes the server makes itself.
    #[serde(rename = "executornames", default)]
    pub executor_names: Option<Vec<String>>,
    /// Executor type that may run it.
    #[serde(rename = "executortype", default)]
    pub executor_type: String,
    /// When non-empty, only executors at this location may run it.
    #[serde(
        rename = "locationname",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub location_name: String,
    /// Names of workflow nodes this one depends on.
    #[serde(default, deserialize_with = "nullable")]
    pub dependencies: Vec<String>,
    /// Requested nodes.
    #[serde(default)]
    pub nodes: i64,
    /// Requested CPU (e.g. `"1000m"`).
    #[serde(default)]
    pub cpu: String,
    /// Requested processes.
    #[serde(default)]
    pub processes: i64,
    /// Requested processes per node.
    #[serde(rename = "processespernode", default)]
    pub processes_per_node: i64,
    /// Requested memory (e.g. `"1Gi"`).
    #[serde(default)]
    pub mem: String,
    /// Requested storage.
    #[serde(default)]
    pub storage: String,
    /// Requested GPUs `{name, mem, count, nodecount}`.
    #[serde(default = "default_gpu")]
    pub gpu: Value,
    /// Wall time in seconds.
    #[serde(default)]
    pub walltime: i64,
}

impl Default for Conditions {
    fn default() -> Self {
        Self {
            colony_name: String::new(),
            executor_names: Some(Vec::new()),
            executor_type: String::new(),
            location_name: String::new(),
            dependencies: Vec::new(),
            nodes: 0,
            cpu: String::new(),
            processes: 0,
            processes_per_node: 0,
            mem: String::new(),
            storage: String::new(),
            gpu: default_gpu(),
            walltime: 0,
        }
    }
}

/// What to run: a function name, its arguments and the conditions for running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// Workflow node name.
    #[serde(rename = "nodename", default)]
    pub node_name: String,
    /// Function name the executor runs.
    #[serde(rename = "funcname", default)]
    pub func_name: String,
    /// Positional arguments.
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<Value>,
    /// Keyword arguments (values are strings, or lists of strings, for pycolonies).
    #[serde(default, deserialize_with = "nullable")]
    pub kwargs: Map<String, Value>,
    /// Priority, -50000..=50000; higher runs first.
    #[serde(default)]
    pub priority: i64,
    /// Seconds a process may wait before it fails; 0 or less means forever.
    #[serde(rename = "maxwaittime", default)]
    pub max_wait_time: i64,
    /// Seconds a process may run before it is re-queued; 0 or less means forever.
    #[serde(rename = "maxexectime", default)]
    pub max_exec_time: i64,
    /// Re-queues allowed after `maxexectime`; -1 is unlimited.
    #[serde(rename = "maxretries", default)]
    pub max_retries: i64,
    /// Who may run it.
    #[serde(default)]
    pub conditions: Conditions,
    /// Free label.
    #[serde(default)]
    pub label: String,
    /// File system mounts (free-form).
    #[serde(default = "default_fs")]
    pub fs: Value,
    /// Environment variables.
    #[serde(default, deserialize_with = "nullable")]
    pub env: Map<String, Value>,
    /// Channels, when used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
}

impl Default for FunctionSpec {
    fn default() -> Self {
        Self {
            node_name: String::new(),
            func_name: String::new(),
            args: Vec::new(),
            kwargs: Map::new(),
            priority: 0,
            max_wait_time: 0,
            max_exec_time: -1,
            max_retries: -1,
            conditions: Conditions::default(),
            label: String::new(),
            fs: default_fs(),
            env: Map::new(),
            channels: None,
        }
    }
}

impl FunctionSpec {
    /// A spec that runs `func_name` on an executor of `executor_type` in `colony_name`.
    pub fn new(func_name: &str, colony_name: &str, executor_type: &str) -> Self {
        Self {
            node_name: func_name.to_owned(),
            func_name: func_name.to_owned(),
            conditions: Conditions {
                colony_name: colony_name.to_owned(),
                executor_type: executor_type.to_owned(),
                ..Conditions::default()
            },
            ..Self::default()
        }
    }

    /// A spec the server makes itself (reconcile, cleanup and cron processes): as upstream's,
    /// its lists are nil — `executornames`, `fs.snapshots` and `fs.dirs` are `null` on the wire.
    pub fn server_made(func_name: &str, colony_name: &str, executor_type: &str) -> Self {
        let mut spec = Self::new(func_name, colony_name, executor_type);
        spec.conditions.executor_names = None;
        spec.fs = json!({"mount": "", "snapshots": null, "dirs": null});
        spec
    }

    /// The kwarg `key` as a string, if present and a string.
    pub fn kwarg_str(&self, key: &str) -> Option<&str> {
        self.kwargs.get(key).and_then(Value::as_str)
    }
}

/// A submitted function spec and its execution record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// Process id (64 hex).
    #[serde(rename = "processid", default)]
    pub process_id: String,
    /// Identity of the submitter.
    #[serde(rename = "initiatorid", default)]
    pub initiator_id: String,
    /// Name of the submitter (executor or user name).
    #[serde(rename = "initiatorname", default)]
    pub initiator_name: String,
    /// Identity of the executor running it.
    #[serde(rename = "assignedexecutorid", default)]
    pub assigned_executor_id: String,
    /// Whether it is assigned.
    #[serde(rename = "isassigned", default)]
    pub is_assigned: bool,
    /// 0 waiting, 1 running, 2 success, 3 failed, 4 cancelled.
    #[serde(default)]
    pub state: i32,
    /// Ordering key: submission time in ns minus priority days; lowest first.
    #[serde(rename = "prioritytime", default)]
    pub priority_time: i64,
    /// When it was submitted.
    #[serde(rename = "submissiontime", default = "zero_time")]
    pub submission_time: DateTime<Utc>,
    /// When it was assigned.
    #[serde(rename = "starttime", default = "zero_time")]
    pub start_time: DateTime<Utc>,
    /// When it was closed.
    #[serde(rename = "endtime", default = "zero_time")]
    pub end_time: DateTime<Utc>,
    /// Deadline for being assigned.
    #[serde(rename = "waitdeadline", default = "zero_time")]
    pub wait_deadline: DateTime<Utc>,
    /// Deadline for finishing once assigned.
    #[serde(rename = "execdeadline", default = "zero_time")]
    pub exec_deadline: DateTime<Utc>,
    /// Times it was re-queued.
    #[serde(default)]
    pub retries: i64,
    /// Attributes (free-form).
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<Value>,
    /// The function spec.
    #[serde(default)]
    pub spec: FunctionSpec,
    /// Whether it waits for parent processes.
    #[serde(rename = "waitforparents", default)]
    pub wait_for_parents: bool,
    /// Parent process ids.
    #[serde(default, deserialize_with = "nullable")]
    pub parents: Vec<String>,
    /// Child process ids.
    #[serde(default, deserialize_with = "nullable")]
    pub children: Vec<String>,
    /// Workflow id.
    #[serde(rename = "processgraphid", default)]
    pub process_graph_id: String,
    /// Input values.
    #[serde(rename = "in", default, deserialize_with = "nullable")]
    pub input: Vec<Value>,
    /// Output values.
    #[serde(rename = "out", default, deserialize_with = "nullable")]
    pub output: Vec<Value>,
    /// Error messages.
    #[serde(default, deserialize_with = "nullable")]
    pub errors: Vec<String>,
}

impl Default for Process {
    fn default() -> Self {
        Self {
            process_id: String::new(),
            initiator_id: String::new(),
            initiator_name: String::new(),
            assigned_executor_id: String::new(),
            is_assigned: false,
            state: 0,
            priority_time: 0,
            submission_time: zero_time(),
            start_time: zero_time(),
            end_time: zero_time(),
            wait_deadline: zero_time(),
            exec_deadline: zero_time(),
            retries: 0,
            attributes: Vec::new(),
            spec: FunctionSpec::default(),
            wait_for_parents: false,
            parents: Vec::new(),
            children: Vec::new(),
            process_graph_id: String::new(),
            input: Vec::new(),
            output: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl Process {
    /// The typed state, `None` for unknown wire values.
    pub fn process_state(&self) -> Option<ProcessState> {
        ProcessState::from_i32(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_nulls_and_missing_fields_deserialize() {
        let p: Process = serde_json::from_value(json!({
            "processid": "p1", "attributes": null, "parents": null, "in": null, "out": null,
            "errors": null, "submissiontime": "2024-05-01T10:00:00.123456789+02:00",
            "spec": {"funcname": "reconcile", "args": null, "kwargs": null, "env": null,
                     "conditions": {"executornames": null, "dependencies": null, "executortype": "t"}}
        }))
        .unwrap();
        assert_eq!(p.process_id, "p1");
        assert!(p.attributes.is_empty() && p.output.is_empty());
        assert_eq!(p.spec.conditions.executor_type, "t");
        assert_eq!(p.submission_time.timestamp(), 1_714_550_400);
    }

    #[test]
    fn reply_carries_every_field() {
        let v = serde_json::to_value(Process::default()).unwrap();
        for f in [
            "processid",
            "initiatorid",
            "initiatorname",
            "assignedexecutorid",
            "isassigned",
            "state",
            "prioritytime",
            "submissiontime",
            "starttime",
            "endtime",
            "waitdeadline",
            "execdeadline",
            "retries",
            "attributes",
            "spec",
            "waitforparents",
            "parents",
            "children",
            "processgraphid",
            "in",
            "out",
            "errors",
        ] {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["submissiontime"], "0001-01-01T00:00:00Z");
    }
}
