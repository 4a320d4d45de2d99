//! Roles, exactly as ColonyOS v1.9.12 checks them: the server owner; the colony owner (the key
//! whose id is `colony.colonyid`); a member (an executor of the colony — approved where the call
//! requires it — or a user of the colony). The colony owner is *not* a member: upstream refuses
//! it every member-only call. Error texts are upstream's; handlers reply 403 with them.

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
    /// The colony owner, on the blueprint calls where upstream falls back to the owner check.
    Owner,
}

impl Member {
    /// The name used as `initiatorname`.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Executor(e) => e.executor_name.clone(),
            Self::User(u) => u.name.clone(),
            // Upstream cannot derive a name for the owner and leaves it empty.
            Self::Owner => String::new(),
        }
    }
}

/// Upstream's "not a member" refusal.
pub(crate) fn not_member(colony_name: &str) -> ApiError {
    ApiError::forbidden(format!(
        "Access denied, not a member of Colony with name <{colony_name}>"
    ))
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
    Store::get(&state.store.colonies, key(&[name]))
}

/// Fails with 403 unless `caller` owns the colony `colony_name`.
pub(crate) fn require_colony_owner(
    state: &ServerState,
    caller: &str,
    colony_name: &str,
) -> Result<Colony, ApiError> {
    if colony_name.is_empty() {
        return Err(ApiError::forbidden("Empty Colony name"));
    }
    match find_colony(state, colony_name)? {
        Some(c) if c.colony_id == caller => Ok(c),
        Some(_) => Err(ApiError::forbidden("Access denied, not colony owner")),
        None => Err(ApiError::forbidden(format!(
            "Colony with name <{colony_name}> does not exists"
        ))),
    }
}

/// The executor whose key is `id`, in any colony, if any.
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
    Store::get(&state.store.user_ids, key(&[colony_name, id]))
}

/// Fails with 403 unless `caller` is an executor of the colony (approved when `approved`; an
/// unregistered one counts only when not) or a user of it. As upstream, when the executor check
/// fails the user check's error is the one reported.
pub(crate) fn require_member(
    state: &ServerState,
    caller: &str,
    colony_name: &str,
    approved: bool,
) -> Result<Member, ApiError> {
    let Some(colony) = find_colony(state, colony_name)? else {
        return Err(ApiError::forbidden(format!(
            "Colony with name <{colony_name}> does not exists"
        )));
    };
    if let Some(e) = executor_by_id(state, caller)?
        && e.colony_name == colony.name
        && (!approved || e.state == ExecutorState::Approved.as_i32())
    {
        return Ok(Member::Executor(Box::new(e)));
    }
    match user_by_id(state, &colony.name, caller)? {
        Some(u) => Ok(Member::User(u)),
        None => Err(not_member(&colony.name)),
    }
}

/// The blueprint calls' rule: an approved member, or else the colony owner; when both fail the
/// colony-owner error is reported, as upstream.
pub(crate) fn require_member_or_owner(
    state: &ServerState,
    caller: &str,
    colony_name: &str,
) -> Result<Member, ApiError> {
    match require_member(state, caller, colony_name, true) {
        Ok(m) => Ok(m),
        Err(_) => require_colony_owner(state, caller, colony_name).map(|_| Member::Owner),
    }
}
