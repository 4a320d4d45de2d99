//! The waiting queue: enqueueing processes and assigning them to executors, with long-poll.
//!
//! Order: priority time (submission ns minus priority days), then submission order. A process
//! matches an executor when colony and executor type match, `executornames` is empty or names
//! it, and `locationname` is empty or equals the executor's (case-insensitive).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::crypto::sha3_256_hex;
use crate::messages::AssignProcessMsg;
use crate::model::{Executor, ExecutorState, FunctionSpec, Process, ProcessState};

use super::auth;
use super::error::ApiError;
use super::state::ServerState;
use super::store::{Store, prefix, sortable_i64};

const DAY_NANOS: i64 = 1_000_000_000 * 60 * 60 * 24;

/// The queue key of a waiting process.
pub(crate) fn queue_key(p: &Process) -> Vec<u8> {
    let mut k = prefix(&p.spec.conditions.colony_name);
    k.extend_from_slice(&sortable_i64(p.priority_time));
    k.extend_from_slice(p.process_id.as_bytes());
    k
}

fn nanos_to_time(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// Creates a waiting process for `spec` and queues it. The caller holds the write lock and
/// flushes; this wakes long-polling assigns.
pub(crate) fn enqueue(
    state: &ServerState,
    mut spec: FunctionSpec,
    initiator_id: &str,
    initiator_name: &str,
) -> Result<Process, ApiError> {
    if !(-50_000..=50_000).contains(&spec.priority) {
        return Err(ApiError::bad_request(
            "priority must be between -50000 and 50000",
        ));
    }
    if spec.conditions.colony_name.is_empty() {
        return Err(ApiError::bad_request(
            "spec.conditions.colonyname is required",
        ));
    }
    if spec.node_name.is_empty() {
        spec.node_name = spec.func_name.clone();
    }
    super::resources::normalise(&mut spec.conditions)?;
    let now = state.unique_now_nanos();
    let id = sha3_256_hex(uuid::Uuid::new_v4().to_string().as_bytes());
    let mut process = Process {
        process_id: id,
        initiator_id: initiator_id.to_owned(),
        initiator_name: initiator_name.to_owned(),
        submission_time: nanos_to_time(now),
        priority_time: now.saturating_sub(spec.priority.saturating_mul(DAY_NANOS)),
        ..Process::default()
    };
    if spec.max_wait_time > 0 {
        process.wait_deadline = nanos_to_time(now) + chrono::Duration::seconds(spec.max_wait_time);
    }
    process.spec = spec;
    Store::put(&state.store.processes, &process.process_id, &process)?;
    state
        .store
        .queue
        .insert(queue_key(&process), process.process_id.as_bytes())?;
    state.notify_submitted();
    Ok(process)
}

fn matches(p: &Process, e: &Executor) -> bool {
    let c = &p.spec.conditions;
    p.state == ProcessState::Waiting.as_i32()
        && !p.is_assigned
        && !p.wait_for_parents
        && c.colony_name == e.colony_name
        && c.executor_type == e.executor_type
        && c.executor_names
            .as_deref()
            .is_none_or(|n| n.is_empty() || n.contains(&e.executor_name))
        && (c.location_name.is_empty() || c.location_name.eq_ignore_ascii_case(&e.location_name))
}

/// Assigns the first matching waiting process to `executor`, if any.
pub(crate) fn try_assign(
    state: &ServerState,
    executor: &Executor,
) -> Result<Option<Process>, ApiError> {
    let _guard = state.write_lock();
    for item in state.store.queue.scan_prefix(prefix(&executor.colony_name)) {
        let (k, id) = item?;
        let Some(mut p) = Store::get::<Process>(&state.store.processes, &id)? else {
            state.store.queue.remove(k)?;
            continue;
        };
        if !matches(&p, executor) {
            continue;
        }
        let now = Utc::now();
        p.state = ProcessState::Running.as_i32();
        p.is_assigned = true;
        p.assigned_executor_id = executor.executor_id.clone();
        p.start_time = now;
        if p.spec.max_exec_time > 0 {
            p.exec_deadline = now + chrono::Duration::seconds(p.spec.max_exec_time);
            state.store.running.insert(p.process_id.as_bytes(), &[])?;
        }
        Store::put(&state.store.processes, &p.process_id, &p)?;
        state.store.queue.remove(k)?;
        state.store.flush()?;
        return Ok(Some(p));
    }
    Ok(None)
}

/// Records that `executor` was heard from at `now` (upstream marks it alive on assign).
fn mark_alive(
    state: &ServerState,
    executor: &Executor,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let k = super::store::key(&[&executor.colony_name, &executor.executor_name]);
    if let Some(mut e) = Store::get::<Executor>(&state.store.executors, &k)? {
        e.last_heard_from_time = now;
        Store::put(&state.store.executors, &k, &e)?;
    }
    Ok(())
}

/// Removes a process from the waiting queue (no-op when absent).
pub(crate) fn dequeue(state: &ServerState, p: &Process) -> Result<(), ApiError> {
    state.store.queue.remove(queue_key(p))?;
    Ok(())
}

/// `assignprocessmsg`: one try (`timeout < 0`) or a long-poll of `timeout` seconds that wakes
/// on every submission. 404 when nothing is assignable, 400 for `timeout == 0`.
pub(crate) async fn assign(
    state: std::sync::Arc<ServerState>,
    caller: String,
    msg: AssignProcessMsg,
) -> Result<Value, ApiError> {
    let executor = {
        let state = state.clone();
        let caller = caller.clone();
        let colony = msg.colonyname.clone();
        blocking(move || {
            auth::require_member(&state, &caller, &colony, true)?;
            match auth::executor_by_id(&state, &caller)? {
                Some(e)
                    if e.colony_name == colony && e.state == ExecutorState::Approved.as_i32() =>
                {
                    let _guard = state.write_lock();
                    mark_alive(&state, &e, Utc::now())?;
                    Ok(e)
                }
                _ => Err(ApiError::internal(
                    "Failed to assign process, executor not found",
                )),
            }
        })
        .await?
    };
    if msg.timeout == 0 {
        return Err(ApiError::bad_request(
            "Invalid timeout value, timeout cannot be zero",
        ));
    }
    let deadline = (msg.timeout > 0)
        .then(|| tokio::time::Instant::now() + Duration::from_secs(msg.timeout.unsigned_abs()));
    let mut rx = state.submitted.subscribe();
    loop {
        rx.borrow_and_update();
        let found = {
            let state = state.clone();
            let executor = executor.clone();
            blocking(move || try_assign(&state, &executor)).await?
        };
        if let Some(p) = found {
            return Ok(serde_json::to_value(p)?);
        }
        let Some(deadline) = deadline else {
            return Err(ApiError::not_found("No process available for assignment"));
        };
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                return Err(ApiError::unavailable("server is shutting down"));
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(ApiError::not_found("No process available for assignment"));
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    return Err(ApiError::unavailable("server is shutting down"));
                }
            }
        }
    }
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("handler task failed: {e}")))?
}
