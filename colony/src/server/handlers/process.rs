//! Processes: submit, get, list, close, set output, cancel, remove — with upstream's order of
//! checks and texts (a missing process is 500 "process is nil" except for get, 404).

use serde_json::Value;

use crate::messages::{
    CancelProcessMsg, GetProcessMsg, GetProcessesMsg, RemoveProcessMsg, SetOutputMsg,
    SubmitFuncSpecMsg,
};
use crate::model::{Process, ProcessState, User};

use super::super::auth::{self, Member};
use super::super::error::ApiError;
use super::super::scheduler;
use super::super::state::ServerState;
use super::super::store::{Store, prefix};
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

/// Loads a process and checks the caller is an approved member of its colony. A missing
/// process is upstream's 500 `Failed to <action>, process is nil`.
pub(super) fn load_for_member(
    state: &ServerState,
    caller: &str,
    process_id: &str,
    action: &str,
) -> Result<(Process, Member), ApiError> {
    let process: Process = Store::get(&state.store.processes, process_id)?
        .ok_or_else(|| ApiError::internal(format!("Failed to {action}, process is nil")))?;
    let member = auth::require_member(state, caller, &process.spec.conditions.colony_name, true)?;
    Ok((process, member))
}

pub(super) fn get(
    state: &ServerState,
    caller: &str,
    msg: GetProcessMsg,
) -> Result<Value, ApiError> {
    let process: Process = Store::get(&state.store.processes, &msg.processid)?
        .ok_or_else(|| ApiError::not_found("Failed to get process, process not found"))?;
    auth::require_member(state, caller, &process.spec.conditions.colony_name, true)?;
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
    if !msg.initiator.is_empty() {
        let users: Vec<User> = Store::scan(&state.store.users, prefix(&msg.colonyname))?;
        if !users.iter().any(|u| u.name == msg.initiator) {
            return Err(ApiError::bad_request(format!(
                "User <{}> does not exist",
                msg.initiator
            )));
        }
    }
    let Some(wanted) = ProcessState::from_i32(msg.state) else {
        return Err(ApiError::bad_request(
            "Failed to get processes, invalid msg.State",
        ));
    };
    let mut processes: Vec<Process> = Vec::new();
    for item in state.store.processes.iter() {
        let (_, v) = item?;
        let p: Process = serde_json::from_slice(&v)?;
        let c = &p.spec.conditions;
        if c.colony_name == msg.colonyname
            && p.state == wanted.as_i32()
            && (msg.executortype.is_empty() || c.executor_type == msg.executortype)
            && (msg.label.is_empty() || p.spec.label == msg.label)
            && (msg.initiator.is_empty() || p.initiator_name == msg.initiator)
        {
            processes.push(p);
        }
    }
    let closed = matches!(
        wanted,
        ProcessState::Success | ProcessState::Failed | ProcessState::Cancelled
    );
    if closed {
        processes.sort_by_key(|p| std::cmp::Reverse(p.end_time));
    } else {
        processes.sort_by_key(|p| p.priority_time);
    }
    processes.truncate(usize::try_from(msg.count.max(0)).unwrap_or(0));
    reply(&processes)
}

/// Closes a process assigned to the caller: `Ok(out)` as successful, `Err(errors)` as failed.
pub(super) fn close(
    state: &ServerState,
    caller: &str,
    process_id: &str,
    outcome: Result<Vec<Value>, Vec<String>>,
) -> Result<Value, ApiError> {
    let how = if outcome.is_ok() {
        "successful"
    } else {
        "failed"
    };
    let _guard = state.write_lock();
    let (mut process, _) = load_for_member(
        state,
        caller,
        process_id,
        &format!("close process as {how}"),
    )?;
    if process.assigned_executor_id.is_empty() {
        return Err(ApiError::forbidden(format!(
            "Failed to close process as {how}, process is not assigned"
        )));
    }
    if process.assigned_executor_id != caller {
        return Err(ApiError::forbidden(format!(
            "Failed to close process as {how}, not allowed to close process as {how}"
        )));
    }
    let current = process.process_state();
    match (&outcome, current) {
        (Ok(_), Some(ProcessState::Failed)) => {
            return Err(ApiError::bad_request(
                "Tried to set failed process as successful",
            ));
        }
        (Ok(_), Some(ProcessState::Cancelled)) => {
            return Err(ApiError::bad_request(
                "Tried to set cancelled process as successful",
            ));
        }
        (
            Err(_),
            Some(s @ (ProcessState::Success | ProcessState::Failed | ProcessState::Cancelled)),
        ) => {
            let word = match s {
                ProcessState::Success => "successful",
                ProcessState::Failed => "failed",
                _ => "cancelled",
            };
            return Err(ApiError::bad_request(format!(
                "Tried to set {word} process as failed"
            )));
        }
        _ => {}
    }
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
    let (mut process, _) = load_for_member(state, caller, &msg.processid, "set output")?;
    if process.assigned_executor_id != caller {
        return Err(ApiError::forbidden(
            "Failed to close process as successful, not allowed to close process as successful",
        ));
    }
    if process.state != ProcessState::Running.as_i32() {
        return Err(ApiError::forbidden(
            "Failed to set output, process is not running",
        ));
    }
    if !msg.out.is_empty() {
        process.output = msg.out;
        Store::put(&state.store.processes, &process.process_id, &process)?;
        state.store.flush()?;
    }
    empty()
}

pub(super) fn cancel(
    state: &ServerState,
    caller: &str,
    msg: CancelProcessMsg,
) -> Result<Value, ApiError> {
    let _guard = state.write_lock();
    let (mut process, _) = load_for_member(state, caller, &msg.processid, "cancel process")?;
    match process.process_state() {
        Some(ProcessState::Waiting) => scheduler::dequeue(state, &process)?,
        Some(ProcessState::Running) => {}
        Some(ProcessState::Success) => {
            return Err(ApiError::bad_request("Tried to cancel successful process"));
        }
        Some(ProcessState::Failed) => {
            return Err(ApiError::bad_request("Tried to cancel failed process"));
        }
        _ => {
            return Err(ApiError::bad_request(
                "Tried to cancel already cancelled process",
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

pub(super) fn remove(
    state: &ServerState,
    caller: &str,
    msg: RemoveProcessMsg,
) -> Result<Value, ApiError> {
    let _guard = state.write_lock();
    let (process, _) = load_for_member(state, caller, &msg.processid, "remove process")?;
    match process.process_state() {
        Some(ProcessState::Running) => {
            return Err(ApiError::bad_request(
                "Failed to remove process, cannot remove a running process",
            ));
        }
        Some(ProcessState::Waiting) => scheduler::dequeue(state, &process)?,
        _ => {}
    }
    state
        .store
        .processes
        .remove(process.process_id.as_bytes())?;
    state.store.running.remove(process.process_id.as_bytes())?;
    state.store.flush()?;
    empty()
}
