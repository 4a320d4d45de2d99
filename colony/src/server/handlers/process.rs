//! Processes: submit, get, list, close, set output, cancel.

use serde_json::Value;

use crate::messages::{
    CancelProcessMsg, GetProcessMsg, GetProcessesMsg, SetOutputMsg, SubmitFuncSpecMsg,
};
use crate::model::{Process, ProcessState};

use super::super::auth::{self, Member};
use super::super::error::ApiError;
use super::super::scheduler;
use super::super::state::ServerState;
use super::super::store::Store;
use super::{empty, reply};

/// Largest `count` of `getprocessesmsg`.
const MAX_COUNT: i64 = 100;

pub(super) fn submit(
    state: &ServerState,
    caller: &str,
    msg: SubmitFuncSpecMsg,
) -> Result<Value, ApiError> {
    let member = auth::require_member(state, caller, &msg.spec.conditions.colony_name, true)?;
    let _guard = state.write_lock();
    let process = scheduler::enqueue(state, msg.spec, caller, &member.name())?;
    state.store.flush()?;
    reply(&process)
}

/// Loads a process (404 when missing) and checks the caller is a member of its colony.
pub(super) fn load_for_member(
    state: &ServerState,
    caller: &str,
    process_id: &str,
) -> Result<(Process, Member), ApiError> {
    let process: Process = Store::get(&state.store.processes, process_id)?
        .ok_or_else(|| ApiError::not_found("Failed to get process, process not found"))?;
    let member = auth::require_member(state, caller, &process.spec.conditions.colony_name, true)?;
    Ok((process, member))
}

/// Loads a running process assigned to the caller (403 otherwise).
pub(super) fn load_assigned(
    state: &ServerState,
    caller: &str,
    process_id: &str,
) -> Result<(Process, Member), ApiError> {
    let (process, member) = load_for_member(state, caller, process_id)?;
    if process.assigned_executor_id.is_empty() || process.assigned_executor_id != caller {
        return Err(ApiError::forbidden(
            "Access denied, only the assigned executor may do that",
        ));
    }
    if process.state != ProcessState::Running.as_i32() {
        return Err(ApiError::bad_request("process is not running"));
    }
    Ok((process, member))
}

pub(super) fn get(
    state: &ServerState,
    caller: &str,
    msg: GetProcessMsg,
) -> Result<Value, ApiError> {
    let (process, _) = load_for_member(state, caller, &msg.processid)?;
    reply(&process)
}

pub(super) fn list(
    state: &ServerState,
    caller: &str,
    msg: GetProcessesMsg,
) -> Result<Value, ApiError> {
    auth::require_member(state, caller, &msg.colonyname, true)?;
    if msg.count > MAX_COUNT {
        return Err(ApiError::bad_request(format!(
            "Count is larger than MaxCount limit <{MAX_COUNT}>"
        )));
    }
    let mut processes: Vec<Process> = Vec::new();
    for item in state.store.processes.iter() {
        let (_, v) = item?;
        let p: Process = serde_json::from_slice(&v)?;
        let c = &p.spec.conditions;
        if c.colony_name == msg.colonyname
            && p.state == msg.state
            && (msg.executortype.is_empty() || c.executor_type == msg.executortype)
            && (msg.label.is_empty() || p.spec.label == msg.label)
            && (msg.initiator.is_empty() || p.initiator_name == msg.initiator)
        {
            processes.push(p);
        }
    }
    let closed = matches!(
        ProcessState::from_i32(msg.state),
        Some(ProcessState::Success | ProcessState::Failed | ProcessState::Cancelled)
    );
    if closed {
        processes.sort_by_key(|p| std::cmp::Reverse(p.end_time));
    } else {
        processes.sort_by_key(|p| p.priority_time);
    }
    processes.truncate(usize::try_from(msg.count.max(0)).unwrap_or(0));
    reply(&processes)
}

/// Closes a running process: `Ok(out)` as successful, `Err(errors)` as failed.
pub(super) fn close(
    state: &ServerState,
    caller: &str,
    process_id: &str,
    outcome: Result<Vec<Value>, Vec<String>>,
) -> Result<Value, ApiError> {
    let _guard = state.write_lock();
    let (mut process, _) = load_assigned(state, caller, process_id)?;
    process.end_time = chrono::Utc::now();
    match outcome {
        Ok(out) => {
            process.state = ProcessState::Success.as_i32();
            if !out.is_empty() {
                process.output = out;
            }
        }
        Err(errors) => {
            process.state = ProcessState::Failed.as_i32();
            process.errors = errors;
        }
    }
    Store::put(&state.store.processes, &process.process_id, &process)?;
    state.store.running.remove(process.process_id.as_bytes())?;
    state.store.flush()?;
    empty()
}

pub(super) fn set_output(
    state: &ServerState,
    caller: &str,
    msg: SetOutputMsg,
) -> Result<Value, ApiError> {
    let _guard = state.write_lock();
    let (mut process, _) = load_assigned(state, caller, &msg.processid)?;
    process.output = msg.out;
    Store::put(&state.store.processes, &process.process_id, &process)?;
    state.store.flush()?;
    empty()
}

pub(super) fn cancel(
    state: &ServerState,
    caller: &str,
    msg: CancelProcessMsg,
) -> Result<Value, ApiError> {
    let _guard = state.write_lock();
    let (mut process, _) = load_for_member(state, caller, &msg.processid)?;
    match process.process_state() {
        Some(ProcessState::Waiting) => scheduler::dequeue(state, &process)?,
        Some(ProcessState::Running) => {}
        _ => {
            return Err(ApiError::bad_request(
                "Only waiting or running processes can be cancelled",
            ));
        }
    }
    process.state = ProcessState::Cancelled.as_i32();
    process.end_time = chrono::Utc::now();
    Store::put(&state.store.processes, &process.process_id, &process)?;
    state.store.running.remove(process.process_id.as_bytes())?;
    state.store.flush()?;
    empty()
}
