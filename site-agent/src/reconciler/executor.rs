//! The executor loop: assign `reconcile` / `cleanup` processes and close them.

use std::time::Duration;

use colony::model::{Process, ProcessState};
use maestro_common::backoff::Backoff;
use tokio_util::sync::CancellationToken;

use super::ProcessReconciler;
use super::spec::KIND;
use crate::Error;

/// Long-poll timeout of one assign, in seconds.
const ASSIGN_TIMEOUT_SECS: i64 = 5;

pub(super) async fn run(reconciler: ProcessReconciler, shutdown: CancellationToken) {
    let ctx = reconciler.inner.ctx.clone();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    resume_orphaned(&reconciler).await;
    loop {
        let assigned = tokio::select! {
            () = shutdown.cancelled() => return,
            r = ctx.client.assign(&ctx.keys.reconciler, &ctx.colony, ASSIGN_TIMEOUT_SECS) => r,
        };
        match assigned {
            Ok(Some(process)) => {
                backoff.reset();
                // Not raced against shutdown: a started convergence finishes and closes its process.
                handle(&reconciler, &process).await;
            }
            Ok(None) => backoff.reset(),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "assign failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Handles processes the colony assigned to this executor whose reply never reached it (an
/// assign answered while the agent was stopping): they would otherwise stay running forever.
async fn resume_orphaned(reconciler: &ProcessReconciler) {
    let ctx = &reconciler.inner.ctx;
    let me = ctx.keys.reconciler.id();
    match ctx
        .client
        .get_processes(
            &ctx.keys.reconciler,
            &ctx.colony,
            ProcessState::Running,
            100,
        )
        .await
    {
        Ok(list) => {
            for p in list.iter().filter(|p| p.assigned_executor_id == me) {
                tracing::info!(process = %p.process_id, function = %p.spec.func_name, "resuming a process assigned before the restart");
                handle(reconciler, p).await;
                let message = format!(
                    "resumed process {} ({}) assigned before the restart",
                    p.process_id, p.spec.func_name
                );
                reconciler.record("", "info", &message, None).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing running processes failed"),
    }
}

async fn handle(reconciler: &ProcessReconciler, process: &Process) {
    let ctx = &reconciler.inner.ctx;
    let pid = process.process_id.as_str();
    let spec = &process.spec;
    let kind = spec.kwarg_str("kind").unwrap_or(KIND);
    let name = spec.kwarg_str("blueprintName").filter(|n| !n.is_empty());
    let result = if kind != KIND {
        Err(Error::Runtime(format!(
            "kind {kind} is not handled by the process reconciler"
        )))
    } else {
        match (spec.func_name.as_str(), name) {
            ("reconcile", Some(name)) => reconciler.converge_named(name, Some(pid)).await,
            ("reconcile", None) => reconciler.converge_all(Some(pid)).await,
            ("cleanup", Some(name)) => cleanup_then_reconverge(reconciler, name, pid).await,
            ("cleanup", None) => Err(Error::Runtime("cleanup needs kwargs.blueprintName".into())),
            (other, _) => Err(Error::Runtime(format!("unknown function {other:?}"))),
        }
    };
    let closed = match result {
        Ok(actions) => {
            let summary = if actions.is_empty() {
                "no changes".to_string()
            } else {
                actions.join("; ")
            };
            ctx.client
                .close_successful(&ctx.keys.reconciler, pid, vec![summary])
                .await
        }
        Err(e) => {
            let target = name.unwrap_or_default();
            reconciler
                .record(
                    target,
                    "error",
                    &format!("{} failed: {e}", spec.func_name),
                    Some(pid),
                )
                .await;
            ctx.client
                .close_failed(&ctx.keys.reconciler, pid, vec![e.to_string()])
                .await
        }
    };
    if let Err(e) = closed {
        tracing::warn!(error = %e, process = pid, "closing process failed");
    }
    ctx.poke_reporter();
}

/// Cleanup stops every instance; if a blueprint of that name exists again (removed and
/// re-added), it is converged afterwards so the new one runs.
async fn cleanup_then_reconverge(
    reconciler: &ProcessReconciler,
    name: &str,
    pid: &str,
) -> Result<super::Actions, Error> {
    let mut actions = reconciler.cleanup(name, Some(pid)).await?;
    let ctx = &reconciler.inner.ctx;
    if ctx
        .client
        .get_blueprint(&ctx.keys.reconciler, &ctx.colony, name)
        .await?
        .is_some()
    {
        actions.extend(reconciler.converge_named(name, Some(pid)).await?);
    }
    Ok(actions)
}
