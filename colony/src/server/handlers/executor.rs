//! Executors: add (pending), approve, reject, remove (unregister), get, list — with upstream's
//! order of checks and texts.
//!
//! Removing an executor marks it unregistered (state 3) and keeps it, as upstream does: it stays
//! listed, its name cannot be added again, and the processes it was running go back to the
//! waiting queue.

use serde_json::Value;

use crate::messages::{AddExecutorMsg, GetExecutorMsg, GetExecutorsMsg, RemoveExecutorMsg};
use crate::model::{Executor, ExecutorState, Process, ProcessState, zero_time};

use super::super::auth;
use super::super::error::ApiError;
use super::super::names;
use super::super::scheduler;
use super::super::state::ServerState;
use super::super::store::{Store, key, prefix};
use super::{empty, reply};

pub(super) fn add(
    state: &ServerState,
    caller: &str,
    msg: AddExecutorMsg,
) -> Result<Value, ApiError> {
    let mut executor = msg.executor;
    auth::require_colony_owner(state, caller, &executor.colony_name)?;
    names::validate("executor.executorname", &executor.executor_name)?;
    if executor.executor_id.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid executor.executorid: must not be empty",
        ));
    }
    let _guard = state.write_lock();
    let k = key(&[&executor.colony_name, &executor.executor_name]);
    if state.store.executors.contains_key(&k)? {
        return Err(ApiError::bad_request(format!(
            "Executor with name <{}> in Colony <{}> already exists",
            executor.executor_name, executor.colony_name
        )));
    }
    if let Some(other) = auth::executor_by_id(state, &executor.executor_id)?
        && other.state != ExecutorState::Unregistered.as_i32()
    {
        return Err(ApiError::bad_request(
            "Executor not unique, both Name and ExecutorId must be unique within a Colony",
        ));
    }
    executor.state = ExecutorState::Pending.as_i32();
    executor.commission_time = chrono::Utc::now();
    Store::put(&state.store.executors, &k, &executor)?;
    state
        .store
        .executor_ids
        .insert(executor.executor_id.as_bytes(), k)?;
    state.store.flush()?;
    reply(&executor)
}

/// The executor `name` of `colony`; `None` when there is none.
fn find(state: &ServerState, colony: &str, name: &str) -> Result<Option<Executor>, ApiError> {
    Store::get(&state.store.executors, key(&[colony, name]))
}

/// Upstream's 500 for an executor that does not exist: `Failed to <action>, executor is nil`.
fn find_or_nil(
    state: &ServerState,
    colony: &str,
    name: &str,
    action: &str,
) -> Result<Executor, ApiError> {
    find(state, colony, name)?
        .ok_or_else(|| ApiError::internal(format!("Failed to {action}, executor is nil")))
}

pub(super) fn set_state(
    state: &ServerState,
    caller: &str,
    colony: &str,
    name: &str,
    approve: bool,
) -> Result<Value, ApiError> {
    let action = if approve {
        "approve executor"
    } else {
        "reject executor"
    };
    let _guard = state.write_lock();
    let mut executor = find_or_nil(state, colony, name, action)?;
    auth::require_colony_owner(state, caller, &executor.colony_name)?;
    executor.state = if approve {
        ExecutorState::Approved.as_i32()
    } else {
        ExecutorState::Rejected.as_i32()
    };
    Store::put(&state.store.executors, key(&[colony, name]), &executor)?;
    state.store.flush()?;
    empty()
}

pub(super) fn remove(
    state: &ServerState,
    caller: &str,
    msg: RemoveExecutorMsg,
) -> Result<Value, ApiError> {
    let _guard = state.write_lock();
    let mut executor = find_or_nil(state, &msg.colonyname, &msg.executorname, "remove executor")?;
    auth::require_colony_owner(state, caller, &executor.colony_name)?;
    executor.state = ExecutorState::Unregistered.as_i32();
    Store::put(
        &state.store.executors,
        key(&[&msg.colonyname, &msg.executorname]),
        &executor,
    )?;
    let requeued = requeue_running(state, &executor)?;
    state.store.flush()?;
    if requeued > 0 {
        state.notify_submitted();
    }
    empty()
}

/// Puts every process `executor` is running back into the waiting queue, as upstream does on
/// executor removal: unassigned, start/end time cleared, `retries` unchanged. The caller holds
/// the write lock and flushes. Returns how many were re-queued.
fn requeue_running(state: &ServerState, executor: &Executor) -> Result<usize, ApiError> {
    let running = ProcessState::Running.as_i32();
    let mut requeued = 0;
    for item in state.store.processes.iter() {
        let (_, v) = item?;
        let mut p: Process = serde_json::from_slice(&v)?;
        if p.state != running
            || p.assigned_executor_id != executor.executor_id
            || p.spec.conditions.colony_name != executor.colony_name
        {
            continue;
        }
        p.state = ProcessState::Waiting.as_i32();
        p.is_assigned = false;
        p.assigned_executor_id.clear();
        p.start_time = zero_time();
        p.end_time = zero_time();
        p.exec_deadline = zero_time();
        state.store.running.remove(p.process_id.as_bytes())?;
        state
            .store
            .queue
            .insert(scheduler::queue_key(&p), p.process_id.as_bytes())?;
        Store::put(&state.store.processes, &p.process_id, &p)?;
        requeued += 1;
    }
    Ok(requeued)
}

pub(super) fn get(
    state: &ServerState,
    caller: &str,
    msg: GetExecutorMsg,
) -> Result<Value, ApiError> {
    let executor = find_or_nil(state, &msg.colonyname, &msg.executorname, "get executor")?;
    auth::require_member(state, caller, &executor.colony_name, true)?;
    reply(&executor)
}

pub(super) fn list(
    state: &ServerState,
    caller: &str,
    msg: GetExecutorsMsg,
) -> Result<Value, ApiError> {
    auth::require_member(state, caller, &msg.colonyname, false)?;
    let executors: Vec<Executor> = Store::scan(&state.store.executors, prefix(&msg.colonyname))?;
    reply(&executors)
}
