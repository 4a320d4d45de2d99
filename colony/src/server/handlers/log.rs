//! Process logs: add (the assigned executor of a running process) and get (member of the colony
//! of the process, or of the named executor) — with upstream's checks and texts.

use serde_json::Value;

use crate::messages::{AddLogMsg, GetLogsMsg};
use crate::model::{Executor, Log, Process};

use super::super::auth::{self, Member};
use super::super::error::ApiError;
use super::super::state::ServerState;
use super::super::store::{Store, key, prefix, sortable_i64};
use super::process::load_for_member;
use super::{empty, reply};

/// Largest `count` of `getlogsmsg`.
const MAX_LOG_COUNT: i64 = 500;

pub(super) fn add(state: &ServerState, caller: &str, msg: AddLogMsg) -> Result<Value, ApiError> {
    let (process, member) = load_for_member(state, caller, &msg.processid, "add log")?;
    if process.state != crate::model::ProcessState::Running.as_i32() {
        return Err(ApiError::forbidden(
            "Failed to set output, process is not running",
        ));
    }
    let not_assigned = || {
        ApiError::forbidden(
            "Failed to add log, not allowed to add log, only the assigned Executor may att logs",
        )
    };
    if process.assigned_executor_id != caller {
        return Err(not_assigned());
    }
    let Member::Executor(executor) = member else {
        return Err(not_assigned());
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
    if msg.executorname.is_empty() {
        let process: Process = Store::get(&state.store.processes, &msg.processid)?
            .ok_or_else(|| ApiError::internal("Failed to get logs, process does not exist"))?;
        auth::require_member(state, caller, &process.spec.conditions.colony_name, true)?;
    } else {
        let executor: Executor = Store::get(
            &state.store.executors,
            key(&[&msg.colonyname, &msg.executorname]),
        )?
        .ok_or_else(|| ApiError::internal("Failed to get logs, executor does not exist"))?;
        auth::require_member(state, caller, &executor.colony_name, true)?;
    }
    if msg.count > MAX_LOG_COUNT {
        return Err(ApiError::forbidden(format!(
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
