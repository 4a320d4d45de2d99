//! Executors (add pending, approve, reject, remove, get, list) and users.
//!
//! Removing an executor puts the processes it was running back into the waiting queue.

use serde_json::Value;

use crate::messages::{
    AddExecutorMsg, AddUserMsg, GetExecutorMsg, GetExecutorsMsg, GetUsersMsg, RemoveExecutorMsg,
    RemoveUserMsg,
};
use crate::model::{Executor, ExecutorState, Process, ProcessState, User, zero_time};

use super::super::auth;
use super::super::error::ApiError;
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
    if executor.executor_id.is_empty() || executor.executor_name.is_empty() {
        return Err(ApiError::bad_request(
            "executor.executorid and executor.executorname are required",
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
    if state
        .store
        .executor_ids
        .contains_key(executor.executor_id.as_bytes())?
    {
        return Err(ApiError::bad_request(
            "Executor with that id already exists",
        ));
    }
    let now = chrono::Utc::now();
    executor.state = ExecutorState::Pending.as_i32();
    executor.commission_time = now;
    executor.last_heard_from_time = now;
    Store::put(&state.store.executors, &k, &executor)?;
    state
        .store
        .executor_ids
        .insert(executor.executor_id.as_bytes(), k)?;
    state.store.flush()?;
    reply(&executor)
}

fn find(state: &ServerState, colony: &str, name: &str) -> Result<Executor, ApiError> {
    Store::get(&state.store.executors, key(&[colony, name]))?
        .ok_or_else(|| ApiError::not_found(format!("Executor {name:?} not found")))
}

pub(super) fn set_state(
    state: &ServerState,
    caller: &str,
    colony: &str,
    name: &str,
    approve: bool,
) -> Result<Value, ApiError> {
    auth::require_colony_owner(state, caller, colony)?;
    let _guard = state.write_lock();
    let mut executor = find(state, colony, name)?;
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
    auth::require_colony_owner(state, caller, &msg.colonyname)?;
    let _guard = state.write_lock();
    let executor = find(state, &msg.colonyname, &msg.executorname)?;
    state
        .store
        .executors
        .remove(key(&[&msg.colonyname, &msg.executorname]))?;
    state
        .store
        .executor_ids
        .remove(executor.executor_id.as_bytes())?;
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
    auth::require_member_or_owner(state, caller, &msg.colonyname)?;
    reply(&find(state, &msg.colonyname, &msg.executorname)?)
}

pub(super) fn list(
    state: &ServerState,
    caller: &str,
    msg: GetExecutorsMsg,
) -> Result<Value, ApiError> {
    if auth::require_member(state, caller, &msg.colonyname, false).is_err() {
        auth::require_colony_owner(state, caller, &msg.colonyname)?;
    }
    let executors: Vec<Executor> = Store::scan(&state.store.executors, prefix(&msg.colonyname))?;
    reply(&executors)
}

pub(super) fn add_user(
    state: &ServerState,
    caller: &str,
    msg: AddUserMsg,
) -> Result<Value, ApiError> {
    let user = msg.user;
    auth::require_colony_owner(state, caller, &user.colony_name)?;
    if user.user_id.is_empty() || user.name.is_empty() {
        return Err(ApiError::bad_request(
            "user.userid and user.name are required",
        ));
    }
    let _guard = state.write_lock();
    let k = key(&[&user.colony_name, &user.name]);
    if state.store.users.contains_key(&k)? {
        return Err(ApiError::bad_request(format!(
            "A user with name <{}> already exists in colony <{}>",
            user.name, user.colony_name
        )));
    }
    if auth::user_by_id(state, &user.colony_name, &user.user_id)?.is_some() {
        return Err(ApiError::bad_request("A user with that id already exists"));
    }
    Store::put(&state.store.users, &k, &user)?;
    state.store.flush()?;
    reply(&user)
}

pub(super) fn list_users(
    state: &ServerState,
    caller: &str,
    msg: GetUsersMsg,
) -> Result<Value, ApiError> {
    auth::require_member_or_owner(state, caller, &msg.colonyname)?;
    let users: Vec<User> = Store::scan(&state.store.users, prefix(&msg.colonyname))?;
    reply(&users)
}

pub(super) fn remove_user(
    state: &ServerState,
    caller: &str,
    msg: RemoveUserMsg,
) -> Result<Value, ApiError> {
    auth::require_colony_owner(state, caller, &msg.colonyname)?;
    let _guard = state.write_lock();
    if state
        .store
        .users
        .remove(key(&[&msg.colonyname, &msg.name]))?
        .is_none()
    {
        return Err(ApiError::not_found("User not found"));
    }
    state.store.flush()?;
    empty()
}
