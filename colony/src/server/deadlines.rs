//! Deadlines: a running process past `execdeadline` is re-queued with `retries + 1`, or fails
//! once `retries >= maxretries` (`-1` = unlimited); a waiting process past `waitdeadline`
//! fails. Checked once a second by a background task.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Process, ProcessState, zero_time};

use super::error::ApiError;
use super::scheduler;
use super::state::ServerState;
use super::store::Store;

/// How often deadlines are checked.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Starts the deadline task; it ends on shutdown.
pub(crate) fn spawn(state: &Arc<ServerState>) {
    let st = Arc::clone(state);
    state.tracker.spawn(async move {
        let mut ticker = tokio::time::interval(SWEEP_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = st.shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            // Nothing running and nothing waiting: no deadline to apply (an idle colony's
            // usual state), and no trip to the blocking pool for it.
            if st.store.running.is_empty() && st.store.queue.is_empty() {
                continue;
            }
            let st2 = Arc::clone(&st);
            if let Err(e) = scheduler::blocking(move || sweep(&st2, Utc::now())).await {
                tracing::warn!(error = %e, "deadline sweep failed");
            }
        }
    });
}

/// Applies every deadline that has passed at `now`.
pub(crate) fn sweep(state: &ServerState, now: DateTime<Utc>) -> Result<(), ApiError> {
    let _guard = state.write_lock();
    let mut changed = false;
    let mut requeued = false;
    for item in state.store.running.iter() {
        let (id, _) = item?;
        let Some(mut p) = Store::get::<Process>(&state.store.processes, &id)? else {
            state.store.running.remove(&id)?;
            continue;
        };
        if p.state != ProcessState::Running.as_i32() {
            state.store.running.remove(&id)?;
            continue;
        }
        if p.exec_deadline == zero_time() || p.exec_deadline > now {
            continue;
        }
        state.store.running.remove(&id)?;
        changed = true;
        if p.spec.max_retries >= 0 && p.retries >= p.spec.max_retries {
            p.state = ProcessState::Failed.as_i32();
            p.end_time = now;
            p.errors
                .push("Maximum execution time limit exceeded".to_owned());
        } else {
            p.state = ProcessState::Waiting.as_i32();
            p.is_assigned = false;
            p.assigned_executor_id.clear();
            p.retries += 1;
            p.start_time = zero_time();
            p.exec_deadline = zero_time();
            state
                .store
                .queue
                .insert(scheduler::queue_key(&p), p.process_id.as_bytes())?;
            requeued = true;
        }
        Store::put(&state.store.processes, &p.process_id, &p)?;
    }
    for item in state.store.queue.iter() {
        let (k, id) = item?;
        let Some(mut p) = Store::get::<Process>(&state.store.processes, &id)? else {
            continue;
        };
        if p.wait_deadline == zero_time() || p.wait_deadline > now {
            continue;
        }
        state.store.queue.remove(k)?;
        p.state = ProcessState::Failed.as_i32();
        p.end_time = now;
        p.errors
            .push("Maximum waiting time limit exceeded".to_owned());
        Store::put(&state.store.processes, &p.process_id, &p)?;
        changed = true;
    }
    if changed {
        state.store.flush()?;
    }
    if requeued {
        state.notify_submitted();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Executor, FunctionSpec};
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn exec_deadline_requeues_then_fails_and_wait_deadline_fails() {
        let dir = tempfile::tempdir().unwrap();
        let state = ServerState::new(
            Store::open(dir.path()).unwrap(),
            "s".into(),
            CancellationToken::new(),
            Duration::from_secs(60),
        );
        let exec = Executor::new("e", "t", "e1", "c");
        let mut spec = FunctionSpec::new("f", "c", "t");
        spec.max_exec_time = 10;
        spec.max_retries = 1;
        let p = scheduler::enqueue(&state, spec, "u", "user").unwrap();
        let assigned = scheduler::try_assign(&state, &exec).unwrap().unwrap();
        let later = assigned.exec_deadline + chrono::Duration::seconds(1);
        sweep(&state, assigned.start_time).unwrap();
        assert!(scheduler::try_assign(&state, &exec).unwrap().is_none());
        sweep(&state, later).unwrap();
        let again = scheduler::try_assign(&state, &exec).unwrap().unwrap();
        assert_eq!(again.process_id, p.process_id);
        assert_eq!(again.retries, 1);
        sweep(&state, again.exec_deadline + chrono::Duration::seconds(1)).unwrap();
        let failed: Process = Store::get(&state.store.processes, &p.process_id)
            .unwrap()
            .unwrap();
        assert_eq!(failed.process_state(), Some(ProcessState::Failed));

        let mut spec = FunctionSpec::new("g", "c", "t");
        spec.max_wait_time = 5;
        let w = scheduler::enqueue(&state, spec, "u", "user").unwrap();
        sweep(&state, w.wait_deadline + chrono::Duration::seconds(1)).unwrap();
        let failed: Process = Store::get(&state.store.processes, &w.process_id)
            .unwrap()
            .unwrap();
        assert_eq!(failed.process_state(), Some(ProcessState::Failed));
        assert!(scheduler::try_assign(&state, &exec).unwrap().is_none());
    }
}
