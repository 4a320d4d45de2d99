//! Process logs: add (assigned executor) and get (member).

use serde_json::Value;

use crate::messages::{AddLogMsg, GetLogsMsg};
use crate::model::Log;

use super::super::auth::{self, Member};
use super::super::error::ApiError;
use super::super::state::ServerState;
use super::super::store::{Store, prefix, sortable_i64};
use super::process::load_assigned;
use super::{empty, reply};

/// Largest `count` of `getlogsmsg`.
const MAX_LOG_COUNT: i64 = 500;

pub(super) fn add(state: &ServerState, caller: &str, msg: AddLogMsg) -> Result<Value, ApiError> {
    let (process, member) = load_assigned(state, caller, &msg.processid)?;
    let Member::Executor(executor) = member else {
        return Err(ApiError::forbidden(
            "only the assigned executor may add logs",
        ));
    };
    let timestamp = state.unique_now_nanos();
    let log = Log {
        process_id: process.process_id.clone(),
        colony_name: process.spec.conditions.colony_name.clone(),
        executor_name: executor.executor_name,
        message: msg.message,
        timestamp,
    };
    let mut k = prefix(&process.process_id);
    k.extend_from_slice(&sortable_i64(timestamp));
    Store::put(&state.store.logs, k, &log)?;
    state.store.flush()?;
    empty()
}

pub(super) fn list(state: &ServerState, caller: &str, msg: GetLogsMsg) -> Result<Value, ApiError> {
    auth::require_member(state, caller, &msg.colonyname, true)?;
    if msg.count > MAX_LOG_COUNT {
        return Err(ApiError::bad_request(format!(
            "Count exceeds max log count ({MAX_LOG_COUNT})"
        )));
    }
    let scan_prefix = if msg.processid.is_empty() {
        Vec::new()
    } else {
        prefix(&msg.processid)
    };
    let logs: Vec<Log> = Store::scan(&state.store.logs, scan_prefix)?;
    let mut logs: Vec<Log> = logs
        .into_iter()
        .filter(|l| l.colony_name == msg.colonyname)
        .filter(|l| msg.executorname.is_empty() || l.executor_name == msg.executorname)
        .filter(|l| l.timestamp > msg.since)
        .collect();
    logs.sort_by_key(|l| l.timestamp);
    let count = usize::try_from(msg.count.max(0)).unwrap_or(0);
    if msg.latest {
        let skip = logs.len().saturating_sub(count);
        logs.drain(..skip);
    } else {
        logs.truncate(count);
    }
    reply(&logs)
}
