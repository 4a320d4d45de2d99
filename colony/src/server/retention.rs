//! Retention: closed processes older than their period are removed with their logs, when the
//! server starts (before it serves) and then once a minute. Upstream's server does the same for
//! successful processes when `COLONIES_RETENTION` is on; here failed and cancelled ones have a
//! period of their own. Without it a colony keeps every process it ever ran: a site whose
//! self-healing loop submits a reconcile process every minute grows its database by megabytes a
//! day while nothing changes, and every listing of processes by state reads them all.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{ProcessState, zero_time};

use super::error::ApiError;
use super::scheduler;
use super::state::ServerState;
use super::store::prefix;

/// How long closed processes are kept after they ended; `None` keeps them for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Processes that ended successfully.
    pub successful: Option<Duration>,
    /// Processes that failed or were cancelled.
    pub unsuccessful: Option<Duration>,
}

impl Retention {
    /// Keeps every process (upstream's default).
    pub const KEEP_ALL: Self = Self {
        successful: None,
        unsuccessful: None,
    };

    fn keeps_all(&self) -> bool {
        self.successful.is_none() && self.unsuccessful.is_none()
    }

    /// How long a process in `state` is kept once it ended; `None` for one that has not ended
    /// or is kept for good.
    fn period(&self, state: i32) -> Option<Duration> {
        match ProcessState::from_i32(state)? {
            ProcessState::Success => self.successful,
            ProcessState::Failed | ProcessState::Cancelled => self.unsuccessful,
            ProcessState::Waiting | ProcessState::Running => None,
        }
    }
}

/// How often the retention is applied (upstream's worker runs once a minute too).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Most processes removed under one hold of the write lock, and held in memory by a sweep: a
/// large backlog (the first sweep of a colony that kept everything) is removed in turns, the
/// handlers served in between.
const BATCH: usize = 500;

/// Starts the retention task, unless `retention` keeps everything; its first sweep is a minute
/// after the one [`start`](super::start) makes before serving. It ends on shutdown.
pub(crate) fn spawn(state: &Arc<ServerState>, retention: Retention) {
    if retention.keeps_all() {
        return;
    }
    let st = Arc::clone(state);
    state.tracker.spawn(async move {
        let first = tokio::time::Instant::now() + SWEEP_EVERY;
        let mut ticker = tokio::time::interval_at(first, SWEEP_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = st.shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let st2 = Arc::clone(&st);
            match scheduler::blocking(move || sweep(&st2, retention, Utc::now())).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "closed processes past retention removed"),
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
        }
    });
}

/// What a sweep reads of a stored process (the rest of the record is skipped, not decoded).
#[derive(Deserialize)]
struct Closed {
    #[serde(default)]
    state: i32,
    #[serde(rename = "submissiontime", default = "zero_time")]
    submission_time: DateTime<Utc>,
    #[serde(rename = "endtime", default = "zero_time")]
    end_time: DateTime<Utc>,
}

impl Closed {
    /// When it ended (its submission for a record without an end time).
    fn ended(&self) -> DateTime<Utc> {
        if self.end_time == zero_time() {
            self.submission_time
        } else {
            self.end_time
        }
    }
}

/// Removes every closed process past its period at `now`, with its logs; the number removed.
pub(crate) fn sweep(
    state: &ServerState,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    if retention.keeps_all() {
        return Ok(0);
    }
    let mut expired = Vec::with_capacity(BATCH);
    let mut removed = 0;
    for item in state.store.processes.iter() {
        let (id, raw) = item?;
        let closed: Closed = match serde_json::from_slice(&raw) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(process = %String::from_utf8_lossy(&id), error = %e, "unreadable process record kept");
                continue;
            }
        };
        let Some(period) = retention.period(closed.state) else {
            continue;
        };
        let age = now.signed_duration_since(closed.ended());
        if age.to_std().is_ok_and(|age| age > period) {
            expired.push(id);
        }
        if expired.len() == BATCH {
            removed += remove(state, &mut expired)?;
        }
    }
    removed += remove(state, &mut expired)?;
    Ok(removed)
}

/// Removes the processes `ids` (a closed process never runs again; one removed meanwhile is
/// simply gone) with their logs under one hold of the write lock, flushes, and empties `ids`.
fn remove(state: &ServerState, ids: &mut Vec<sled::IVec>) -> Result<usize, ApiError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let _guard = state.write_lock();
    for id in ids.iter() {
        state.store.processes.remove(id)?;
        state.store.running.remove(id)?;
        let logs = prefix(&String::from_utf8_lossy(id));
        for log in state.store.logs.scan_prefix(logs).keys() {
            state.store.logs.remove(log?)?;
        }
    }
    state.store.flush()?;
    let n = ids.len();
    ids.clear();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Executor, FunctionSpec, Log, Process};
    use crate::server::store::{Store, sortable_i64};
    use tokio_util::sync::CancellationToken;

    fn state(dir: &std::path::Path) -> ServerState {
        ServerState::new(
            Store::open(dir).unwrap(),
            "s".into(),
            CancellationToken::new(),
            Duration::from_secs(60),
        )
    }

    /// A process of `func`, assigned, then closed in `end` at `ended`, with one log line.
    fn closed(state: &ServerState, func: &str, end: ProcessState, ended: DateTime<Utc>) -> String {
        let exec = Executor::new("e", "t", "e1", "c");
        let queued =
            scheduler::enqueue(state, FunctionSpec::new(func, "c", "t"), "u", "user").unwrap();
        let mut p: Process = scheduler::try_assign(state, &exec).unwrap().unwrap();
        assert_eq!(p.process_id, queued.process_id);
        p.state = end.as_i32();
        p.end_time = ended;
        Store::put(&state.store.processes, &p.process_id, &p).unwrap();
        state.store.running.remove(p.process_id.as_bytes()).unwrap();
        let log = Log {
            process_id: p.process_id.clone(),
            colony_name: "c".into(),
            executor_name: "e".into(),
            message: format!("{func} ran"),
            timestamp: 1,
        };
        let mut k = prefix(&p.process_id);
        k.extend_from_slice(&sortable_i64(1));
        Store::put(&state.store.logs, k, &log).unwrap();
        p.process_id
    }

    fn kept(state: &ServerState, id: &str) -> (bool, usize) {
        let process = state.store.processes.contains_key(id.as_bytes()).unwrap();
        let logs = state.store.logs.scan_prefix(prefix(id)).count();
        (process, logs)
    }

    #[tokio::test]
    async fn closed_processes_past_their_period_go_with_their_logs_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        let now = Utc::now();
        let hour = chrono::Duration::hours(1);
        let old_success = closed(&state, "old-ok", ProcessState::Success, now - hour * 2);
        let new_success = closed(&state, "new-ok", ProcessState::Success, now - hour / 2);
        let old_failure = closed(&state, "old-failed", ProcessState::Failed, now - hour * 2);
        let old_cancel = closed(
            &state,
            "old-cancelled",
            ProcessState::Cancelled,
            now - hour * 30,
        );
        let waiting =
            scheduler::enqueue(&state, FunctionSpec::new("waits", "c", "t"), "u", "user").unwrap();
        let retention = Retention {
            successful: Some(Duration::from_secs(3600)),
            unsuccessful: Some(Duration::from_secs(24 * 3600)),
        };

        assert_eq!(sweep(&state, retention, now).unwrap(), 2);
        assert_eq!(kept(&state, &old_success), (false, 0));
        assert_eq!(kept(&state, &old_cancel), (false, 0));
        assert_eq!(kept(&state, &new_success), (true, 1));
        assert_eq!(kept(&state, &old_failure), (true, 1));
        assert!(kept(&state, &waiting.process_id).0);
        assert_eq!(
            state.store.queue.len(),
            1,
            "the waiting process stays queued"
        );

        // A day later every closed one is past its period; the waiting one never is.
        assert_eq!(sweep(&state, retention, now + hour * 25).unwrap(), 2);
        assert_eq!(kept(&state, &new_success), (false, 0));
        assert_eq!(kept(&state, &old_failure), (false, 0));
        assert!(kept(&state, &waiting.process_id).0);
        assert_eq!(sweep(&state, retention, now + hour * 25).unwrap(), 0);
    }

    #[tokio::test]
    async fn keeping_all_or_one_kind_removes_nothing_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        let long_ago = Utc::now() - chrono::Duration::days(400);
        let success = closed(&state, "ok", ProcessState::Success, long_ago);
        let failure = closed(&state, "failed", ProcessState::Failed, long_ago);
        assert_eq!(sweep(&state, Retention::KEEP_ALL, Utc::now()).unwrap(), 0);
        let failures_only = Retention {
            successful: None,
            unsuccessful: Some(Duration::from_secs(1)),
        };
        assert_eq!(sweep(&state, failures_only, Utc::now()).unwrap(), 1);
        assert_eq!(kept(&state, &success), (true, 1));
        assert_eq!(kept(&state, &failure), (false, 0));
    }

    #[tokio::test]
    async fn a_backlog_larger_than_a_batch_is_removed_whole_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let state = state(dir.path());
            for i in 0..(BATCH + 7) {
                closed(
                    &state,
                    &format!("f{i}"),
                    ProcessState::Success,
                    now - chrono::Duration::hours(2),
                );
            }
            let retention = Retention {
                successful: Some(Duration::from_secs(60)),
                unsuccessful: None,
            };
            assert_eq!(sweep(&state, retention, now).unwrap(), BATCH + 7);
        }
        let state = state(dir.path());
        assert_eq!(state.store.processes.len(), 0);
        assert_eq!(state.store.logs.len(), 0);
    }
}
