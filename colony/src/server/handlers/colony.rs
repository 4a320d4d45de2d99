//! Colonies: add, list, get, remove — with upstream's order of checks and texts.

use serde_json::Value;

use crate::messages::{AddColonyMsg, GetColonyMsg, RemoveColonyMsg};
use crate::model::{Colony, Executor};

use super::super::auth;
use super::super::error::ApiError;
use super::super::names;
use super::super::state::ServerState;
use super::super::store::{Store, key, prefix};
use super::{empty, reply};

/// Length of a colony id (hex SHA3-256).
const ID_LEN: usize = 64;

pub(super) fn add(state: &ServerState, caller: &str, msg: AddColonyMsg) -> Result<Value, ApiError> {
    auth::require_server_owner(state, caller)?;
    let colony = msg.colony;
    if colony.colony_id.len() != ID_LEN {
        return Err(ApiError::bad_request(
            "Failed to add colony, invalid colony Id length",
        ));
    }
    names::validate("colony.name", &colony.name)?;
    let _guard = state.write_lock();
    if auth::find_colony(state, &colony.name)?.is_some() {
        return Err(ApiError::bad_request(format!(
            "A Colony with name <{}> already exists",
            colony.name
        )));
    }
    Store::put(&state.store.colonies, key(&[&colony.name]), &colony)?;
    state.store.flush()?;
    reply(&colony)
}

pub(super) fn list(state: &ServerState, caller: &str) -> Result<Value, ApiError> {
    auth::require_server_owner(state, caller)?;
    let colonies: Vec<Colony> = Store::scan(&state.store.colonies, b"")?;
    reply(&colonies)
}

pub(super) fn get(state: &ServerState, caller: &str, msg: GetColonyMsg) -> Result<Value, ApiError> {
    auth::require_member(state, caller, &msg.colonyname, true)?;
    match auth::find_colony(state, &msg.colonyname)? {
        Some(c) => reply(&c),
        None => Err(ApiError::internal("Failed to get colony, colony is nil")),
    }
}

pub(super) fn remove(
    state: &ServerState,
    caller: &str,
    msg: RemoveColonyMsg,
) -> Result<Value, ApiError> {
    auth::require_server_owner(state, caller)?;
    let _guard = state.write_lock();
    if state
        .store
        .colonies
        .remove(key(&[&msg.colonyname]))?
        .is_none()
    {
        return Err(ApiError::bad_request(format!(
            "Colony with name <{}> not found",
            msg.colonyname
        )));
    }
    let p = prefix(&msg.colonyname);
    for item in state.store.executors.scan_prefix(&p) {
        let (k, v) = item?;
        let e: Executor = serde_json::from_slice(&v)?;
        state.store.executor_ids.remove(e.executor_id.as_bytes())?;
        state.store.executors.remove(k)?;
    }
    for tree in [&state.store.users, &state.store.user_ids] {
        for item in tree.scan_prefix(&p) {
            let (k, _) = item?;
            tree.remove(k)?;
        }
    }
    state.store.flush()?;
    empty()
}
