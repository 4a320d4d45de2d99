//! The scheduler around [`reconcile`]: at most one run per intent at a time, triggers merged
//! while a run is in flight, requeues as timers, every failure through [`error_policy`].

use crate::context::Context;
use crate::context::RunError;
use crate::reconcile::{Action, ReconcileReason, error_policy, reconcile};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Handle to ask for reconciles.
#[derive(Clone)]
pub struct Controller {
    triggers: mpsc::UnboundedSender<(String, ReconcileReason)>,
}

impl Controller {
    /// Starts the scheduler; it stops when `shutdown` is cancelled.
    pub fn start(
        ctx: Arc<Context>,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(schedule(ctx, rx, tx.clone(), shutdown));
        (Self { triggers: tx }, task)
    }

    /// Asks for a reconcile of intent `id`.
    pub fn trigger(&self, id: &str, reason: ReconcileReason) {
        // A closed channel means we are shutting down.
        let _ = self.triggers.send((id.to_string(), reason));
    }
}

async fn schedule(
    ctx: Arc<Context>,
    mut triggers: mpsc::UnboundedReceiver<(String, ReconcileReason)>,
    requeue: mpsc::UnboundedSender<(String, ReconcileReason)>,
    shutdown: CancellationToken,
) {
    let (done_tx, mut done) = mpsc::unbounded_channel::<(String, Action, ReconcileReason)>();
    let mut running: HashSet<String> = HashSet::new();
    let mut pending: HashMap<String, ReconcileReason> = HashMap::new();
    let mut timers: HashMap<String, AbortHandle> = HashMap::new();
    let mut runs = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some((id, reason)) = triggers.recv() => {
                if running.contains(&id) {
                    let merged = pending.get(&id).map_or(reason, |p| p.merge(reason));
                    pending.insert(id, merged);
                } else {
                    running.insert(id.clone());
                    runs.spawn(run_once(ctx.clone(), id, reason, done_tx.clone()));
                }
            }
            Some((id, action, requeue_reason)) = done.recv() => {
                running.remove(&id);
                if let Some(old) = timers.remove(&id) {
                    old.abort();
                }
                if let Some(reason) = pending.remove(&id) {
                    running.insert(id.clone());
                    runs.spawn(run_once(ctx.clone(), id, reason, done_tx.clone()));
                } else if let Action::Requeue(delay) = action {
                    let (tx, key) = (requeue.clone(), id.clone());
                    let reason = requeue_reason;
                    let handle = runs.spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send((key, reason));
                    });
                    timers.insert(id, handle);
                }
            }
            Some(_) = runs.join_next(), if !runs.is_empty() => {}
        }
    }
    runs.shutdown().await;
}

async fn run_once(
    ctx: Arc<Context>,
    id: String,
    reason: ReconcileReason,
    done: mpsc::UnboundedSender<(String, Action, ReconcileReason)>,
) {
    let intent = match ctx.store.get(&id) {
        Ok(Some(i)) => Arc::new(i),
        Ok(None) => {
            let _ = done.send((id, Action::AwaitChange, ReconcileReason::Requeue));
            return;
        }
        Err(e) => {
            tracing::warn!(intent.id = %id, error = %e, "loading intent failed");
            let delay = ctx.next_backoff(&id);
            let _ = done.send((id, Action::Requeue(delay), ReconcileReason::ErrorRetry));
            return;
        }
    };
    let span = tracing::info_span!("intent.reconcile", intent.id = %id, generation = intent.generation, reason = ?reason);
    // A new generation's run belongs to its order's trace; periodic re-publishes do not.
    if reason == ReconcileReason::Applied {
        maestro_common::telemetry::context::set_parent(&span, &intent.traceparent);
    }
    let started = std::time::Instant::now();
    let result = reconcile(intent.clone(), reason, ctx.clone())
        .instrument(span)
        .await;
    crate::metrics::reconciled(result.is_ok(), started.elapsed().as_secs_f64());
    let (action, next_reason) = match result {
        Ok(action) => {
            ctx.set_error(&id, None);
            (action, ReconcileReason::Requeue)
        }
        Err(e) => {
            let action = error_policy(&intent, &e, &ctx);
            let next_attempt_ms = match action {
                Action::Requeue(delay) => Some(
                    maestro_common::time::now_millis()
                        .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                ),
                Action::AwaitChange => None,
            };
            ctx.set_error(
                &id,
                Some(RunError {
                    message: e.to_string(),
                    permanent: e.is_permanent(),
                    attempt: ctx.attempts(&id).max(1),
                    next_attempt_ms,
                }),
            );
            (action, ReconcileReason::ErrorRetry)
        }
    };
    ctx.refresh_status(&intent);
    ctx.run_finished();
    let _ = done.send((id, action, next_reason));
}
