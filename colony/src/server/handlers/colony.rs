//! Colonies: add, list, get, remove.

use serde_json::Value;

use crate::messages::{AddColonyMsg, GetColonyMsg, RemoveColonyMsg};
use crate::model::{Colony, Executor};

use super::super::auth;
use super::super::error::ApiError;
use super::super::state::ServerState;
use super::super::store::{Store, prefix};
use super::{empty, reply};

pub(super) fn add(state: &ServerState, caller: &str, msg: AddColonyMsg) -> Result<Value, ApiError> {
    auth::require_server_owner(state, caller)?;
    let colony = msg.colony;
    if colony.name.is_empty() || colony.colony_id.is_empty() {
        return Err(ApiError::bad_request(
            "colony.name and colony.colonyid are required",
        ));
    }
    let _guard = state.write_lock();
    if auth::find_colony(state, &colony.name)?.is_some() {
        return Err(ApiError::bad_request(format!(
            "A colony with name {:?} already exists",
            colony.name
        )));
    }
    Store::put(&state.store.colonies, &colony.name, &colony)?;
    state.store.flush()?;
    reply(&colony)
}

pub(super) fn list(state: &ServerState, caller: &str) -> Result<Value, ApiError> {
    auth::require_server_owner(state, caller)?;
    let colonies: Vec<Colony> = Store::scan(&state.store.colonies, b"")?;
    reply(&colonies)
}

pub(super) fn get(state: &ServerState, caller: &str, msg: GetColonyMsg) -> Result<Value, ApiError> {
    auth::require_member_or_owner(state, caller, &msg.colonyname)?;
    match auth::find_colony(state, &msg.colonyname)? {
        Some(c) => reply(&c),
        None => Err(ApiError::not_found("Colony not found")),
    }
}

pub(super) fn remove(
    state: &ServerState,
    caller: &str,
    msg: RemoveColonyMsg,
) -> Result<Value, ApiError> {
    auth::require_server_owner(state, caller)?;
    let _guard = state.write_lock();
    if state.store.colonies.remove(&msg.colonyname)?.is_none() {
        return Err(ApiError::not_found("Colony not found"));
    }
    let p = prefix(&msg.colonyname);
    for item in state.store.executors.scan_prefix(&p) {
        let (k, v) = item?;
        let e: Executor = serde_json::from_slice(&v)?;
        state.store.executor_ids.remove(e.executor_id.as_bytes())?;
        state.store.executors.remove(k)?;
    }
    for item in state.store.users.scan_prefix(&p) {
        let (k, _) = item?;
        state.store.users.remove(k)?;
    }
    state.store.flush()?;
    empty()
}
