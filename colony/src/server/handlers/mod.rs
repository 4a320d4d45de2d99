//! Request handlers, one file per area, and the dispatch by payload type.

mod blueprint;
mod colony;
mod executor;
mod log;
mod process;
mod user;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::messages::*;

use super::error::ApiError;
use super::state::ServerState;

/// Decodes the inner JSON into the message type (400 on mismatch).
fn parse<M: RpcMessage>(inner: Value) -> Result<M, ApiError> {
    serde_json::from_value(inner).map_err(|e| {
        ApiError::bad_request(format!(
            "Failed to parse {}, invalid JSON: {e}",
            M::PAYLOAD_TYPE
        ))
    })
}

/// Serializes a reply object.
fn reply<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(value)?)
}

/// The empty reply `{}`.
fn empty() -> Result<Value, ApiError> {
    Ok(json!({}))
}

/// Handles every synchronous RPC (all but assign and the unsigned ones).
pub(crate) fn dispatch(
    state: &Arc<ServerState>,
    caller: &str,
    payload_type: &str,
    inner: Value,
) -> Result<Value, ApiError> {
    let s = state;
    let c = caller;
    match payload_type {
        AddColonyMsg::PAYLOAD_TYPE => colony::add(s, c, parse(inner)?),
        GetColoniesMsg::PAYLOAD_TYPE => colony::list(s, c),
        GetColonyMsg::PAYLOAD_TYPE => colony::get(s, c, parse(inner)?),
        RemoveColonyMsg::PAYLOAD_TYPE => colony::remove(s, c, parse(inner)?),
        AddExecutorMsg::PAYLOAD_TYPE => executor::add(s, c, parse(inner)?),
        ApproveExecutorMsg::PAYLOAD_TYPE => {
            let m: ApproveExecutorMsg = parse(inner)?;
            executor::set_state(s, c, &m.colonyname, &m.executorname, true)
        }
        RejectExecutorMsg::PAYLOAD_TYPE => {
            let m: RejectExecutorMsg = parse(inner)?;
            executor::set_state(s, c, &m.colonyname, &m.executorname, false)
        }
        RemoveExecutorMsg::PAYLOAD_TYPE => executor::remove(s, c, parse(inner)?),
        GetExecutorMsg::PAYLOAD_TYPE => executor::get(s, c, parse(inner)?),
        GetExecutorsMsg::PAYLOAD_TYPE => executor::list(s, c, parse(inner)?),
        AddUserMsg::PAYLOAD_TYPE => user::add(s, c, parse(inner)?),
        GetUsersMsg::PAYLOAD_TYPE => user::list(s, c, parse(inner)?),
        RemoveUserMsg::PAYLOAD_TYPE => user::remove(s, c, parse(inner)?),
        SubmitFuncSpecMsg::PAYLOAD_TYPE => process::submit(s, c, parse(inner)?),
        GetProcessMsg::PAYLOAD_TYPE => process::get(s, c, parse(inner)?),
        GetProcessesMsg::PAYLOAD_TYPE => process::list(s, c, parse(inner)?),
        CloseSuccessfulMsg::PAYLOAD_TYPE => {
            let m: CloseSuccessfulMsg = parse(inner)?;
            process::close(s, c, &m.processid, Ok(m.out))
        }
        CloseFailedMsg::PAYLOAD_TYPE => {
            let m: CloseFailedMsg = parse(inner)?;
            process::close(s, c, &m.processid, Err(m.errors))
        }
        SetOutputMsg::PAYLOAD_TYPE => process::set_output(s, c, parse(inner)?),
        CancelProcessMsg::PAYLOAD_TYPE => process::cancel(s, c, parse(inner)?),
        RemoveProcessMsg::PAYLOAD_TYPE => process::remove(s, c, parse(inner)?),
        AddLogMsg::PAYLOAD_TYPE => log::add(s, c, parse(inner)?),
        GetLogsMsg::PAYLOAD_TYPE => log::list(s, c, parse(inner)?),
        AddBlueprintDefinitionMsg::PAYLOAD_TYPE => blueprint::add_definition(s, c, parse(inner)?),
        GetBlueprintDefinitionMsg::PAYLOAD_TYPE => blueprint::get_definition(s, c, parse(inner)?),
        GetBlueprintDefinitionsMsg::PAYLOAD_TYPE => {
            blueprint::list_definitions(s, c, parse(inner)?)
        }
        RemoveBlueprintDefinitionMsg::PAYLOAD_TYPE => {
            blueprint::remove_definition(s, c, parse(inner)?)
        }
        AddBlueprintMsg::PAYLOAD_TYPE => blueprint::add(s, c, parse(inner)?),
        GetBlueprintMsg::PAYLOAD_TYPE => blueprint::get(s, c, parse(inner)?),
        GetBlueprintsMsg::PAYLOAD_TYPE => blueprint::list(s, c, parse(inner)?),
        UpdateBlueprintMsg::PAYLOAD_TYPE => blueprint::update(s, c, parse(inner)?),
        RemoveBlueprintMsg::PAYLOAD_TYPE => blueprint::remove(s, c, parse(inner)?),
        UpdateBlueprintStatusMsg::PAYLOAD_TYPE => blueprint::update_status(s, c, parse(inner)?),
        ReconcileBlueprintMsg::PAYLOAD_TYPE => blueprint::reconcile(s, c, parse(inner)?),
        GetBlueprintHistoryMsg::PAYLOAD_TYPE => blueprint::history(s, c, parse(inner)?),
        other => Err(ApiError::bad_request(format!(
            "unsupported payload type {other:?}"
        ))),
    }
}
