//! Roles: server owner, colony owner, member (approved executor or user of the colony).

use crate::model::{Colony, Executor, ExecutorState, User};

use super::error::ApiError;
use super::state::ServerState;
use super::store::{Store, key};

/// A member of a colony, as resolved from the caller's identity.
#[derive(Debug, Clone)]
pub(crate) enum Member {
    /// An executor of the colony.
    Executor(Box<Executor>),
    /// A user of the colony.
    User(User),
    /// The colony owner (allowed where upstream falls back to colony-owner checks).
    Owner(Colony),
}

impl Member {
    /// The name used as `initiatorname`.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Executor(e) => e.executor_name.clone(),
            Self::User(u) => u.name.clone(),
            Self::Owner(c) => format!("{}-owner", c.name),
        }
    }
}

/// Fails with 403 unless `caller` is the server owner.
pub(crate) fn require_server_owner(state: &ServerState, caller: &str) -> Result<(), ApiError> {
    if caller == state.server_id {
        Ok(())
    } else {
        Err(ApiError::forbidden("Access denied, not server owner"))
    }
}

/// The colony named `name`, if any.
pub(crate) fn find_colony(state: &ServerState, name: &str) -> Result<Option<Colony>, ApiError> {
    Store::get(&state.store.colonies, name)
}

/// Fails with 403 unless `caller` owns the colony `colony_name`.
pub(crate) fn require_colony_owner(
    state: &ServerState,
    caller: &str,
    colony_name: &str,
) -> Result<Colony, ApiError> {
    match find_colony(state, colony_name)? {
        Some(c) if c.colony_id == caller => Ok(c),
        Some(_) => Err(ApiError::forbidden("Access denied, not colony owner")),
        None => Err(ApiError::forbidden(format!(
            "Access denied, colony {colony_name:?} does not exist"
        ))),
    }
}

/// The executor whose key is `id`, if any.
pub(crate) fn executor_by_id(state: &ServerState, id: &str) -> Result<Option<Executor>, ApiError> {
    match state.store.executor_ids.get(id)? {
        Some(k) => Store::get(&state.store.executors, k),
        None => Ok(None),
    }
}

/// The user of `colony_name` whose key is `id`, if any.
pub(crate) fn user_by_id(
    state: &ServerState,
    colony_name: &str,
    id: &str,
) -> Result<Option<User>, ApiError> {
    let users: Vec<User> = Store::scan(&state.store.users, key(&[colony_name, ""]))?;
    Ok(users.into_iter().find(|u| u.user_id == id))
}

/// Fails with 403 unless `caller` is an executor (approved when `approved`) or a user of the
/// colony.
pub(crate) fn require_member(
    state: &ServerState,
    caller: &str,
    colony_name: &str,
    approved: bool,
) -> Result<Member, ApiError> {
    if let Some(e) = executor_by_id(state, caller)?
        && e.colony_name == colony_name
        && (!approved || e.state == ExecutorState::Approved.as_i32())
    {
        return Ok(Member::Executor(Box::new(e)));
    }
    if let Some(u) = user_by_id(state, colony_name, caller)? {
        return Ok(Member::User(u));
    }
    Err(ApiError::forbidden(format!(
        "Access denied, not a member of colony {colony_name:?}"
    )))
}

/// Like [`require_member`] (approved) but also lets the colony owner through.
pub(crate) fn require_member_or_owner(
    state: &ServerState,
    caller: &str,
    colony_name: &str,
) -> Result<Member, ApiError> {
    match require_member(state, caller, colony_name, true) {
        Ok(m) => Ok(m),
        Err(member_err) => match require_colony_owner(state, caller, colony_name) {
            Ok(c) => Ok(Member::Owner(c)),
            Err(_) => Err(member_err),
        },
    }
}
