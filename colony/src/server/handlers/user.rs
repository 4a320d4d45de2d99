//! Users: add and remove (colony owner), list (member) — with upstream's order of checks and
//! texts. Users are indexed by (colony, name) and by (colony, id).

use serde_json::Value;

use crate::messages::{AddUserMsg, GetUsersMsg, RemoveUserMsg};
use crate::model::User;

use super::super::auth;
use super::super::error::ApiError;
use super::super::names;
use super::super::state::ServerState;
use super::super::store::{Store, key, prefix};
use super::{empty, reply};

/// Upstream's 400 when the colony of a user call does not exist.
fn require_colony(state: &ServerState, colony: &str) -> Result<(), ApiError> {
    match auth::find_colony(state, colony)? {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(format!(
            "Colony with name <{colony}> does not exists"
        ))),
    }
}

pub(super) fn add(state: &ServerState, caller: &str, msg: AddUserMsg) -> Result<Value, ApiError> {
    let user = msg.user;
    require_colony(state, &user.colony_name)?;
    auth::require_colony_owner(state, caller, &user.colony_name)?;
    names::validate("user.name", &user.name)?;
    if user.user_id.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid user.userid: must not be empty",
        ));
    }
    let _guard = state.write_lock();
    let k = key(&[&user.colony_name, &user.name]);
    if state.store.users.contains_key(&k)? {
        return Err(ApiError::bad_request(format!(
            "A user with name <{}> already exists in Colony with name <{}>",
            user.name, user.colony_name
        )));
    }
    if auth::user_by_id(state, &user.colony_name, &user.user_id)?.is_some() {
        return Err(ApiError::bad_request(format!(
            "A user with Id <{}> already exists in Colony with name <{}>",
            user.user_id, user.colony_name
        )));
    }
    Store::put(&state.store.users, &k, &user)?;
    Store::put(
        &state.store.user_ids,
        key(&[&user.colony_name, &user.user_id]),
        &user,
    )?;
    state.store.flush()?;
    reply(&user)
}

pub(super) fn list(state: &ServerState, caller: &str, msg: GetUsersMsg) -> Result<Value, ApiError> {
    require_colony(state, &msg.colonyname)?;
    auth::require_member(state, caller, &msg.colonyname, false)?;
    let users: Vec<User> = Store::scan(&state.store.users, prefix(&msg.colonyname))?;
    reply(&users)
}

pub(super) fn remove(
    state: &ServerState,
    caller: &str,
    msg: RemoveUserMsg,
) -> Result<Value, ApiError> {
    require_colony(state, &msg.colonyname)?;
    auth::require_colony_owner(state, caller, &msg.colonyname)?;
    let _guard = state.write_lock();
    let Some(user) = Store::get::<User>(&state.store.users, key(&[&msg.colonyname, &msg.name]))?
    else {
        return Err(ApiError::bad_request(format!(
            "User with name <{}> not found",
            msg.name
        )));
    };
    state
        .store
        .users
        .remove(key(&[&msg.colonyname, &msg.name]))?;
    state
        .store
        .user_ids
        .remove(key(&[&msg.colonyname, &user.user_id]))?;
    state.store.flush()?;
    empty()
}
