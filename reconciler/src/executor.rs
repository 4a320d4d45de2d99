//! The one ColonyOS executor loop every reconciler runs: assign (long-poll), handle
//! `reconcile` / `cleanup`, close the process successful or failed; processes assigned before a
//! restart are resumed first; failed assigns back off.

use std::time::Duration;

use colony::model::{Process, ProcessState};
use maestro_common::backoff::Backoff;
use tokio_util::sync::CancellationToken;

use crate::host::Level;
use crate::{Driver, Reconciler};

/// Long-poll timeout of one assign, in seconds. The colony answers at once when a process is
/// submitted, so the timeout only sets how often an idle executor asks again: each ask is a
/// request signed here and verified at the colony (secp256k1 key recovery) and a write there
/// (its last-heard time, which nothing else reads), `docs/performance.md`, idle cost. 30 s,
/// against 5 s before, cut an idle site's CPU by about a fifth. 120 s was tried and made a restarted
/// agent wait two minutes against a real ColonyOS server (its interoperability test failed).
const ASSIGN_TIMEOUT_SECS: i64 = 30;
/// Shortest and longest delay after a failed assign.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Most running processes looked at when resuming after a restart.
const RESUME_LIMIT: i64 = 100;

/// Runs the executor loop of `driver` until `shutdown`. A process being handled is finished and
/// closed before the loop ends (a convergence is never cut in half; a step that would wait long,
/// as a new process's health check does, ends early on `shutdown` with what it did recorded).
pub async fn run<R: Reconciler>(driver: Driver<R>, shutdown: CancellationToken) {
    tracing::info!(colony = driver.colony(), "reconciler executor started");
    resume_assigned(&driver).await;
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    loop {
        let assigned = tokio::select! {
            () = shutdown.cancelled() => break,
            r = driver.client().assign(driver.key(), driver.colony(), ASSIGN_TIMEOUT_SECS) => r,
        };
        match assigned {
            Ok(Some(process)) => {
                backoff.reset();
                handle_and_close(&driver, &process).await;
            }
            Ok(None) => backoff.reset(),
            Err(e) => {
                tracing::warn!(error = %e, attempt = backoff.attempts() + 1, "assign failed");
                if backoff.wait(&shutdown).await {
                    break;
                }
            }
        }
    }
    tracing::info!(colony = driver.colony(), "reconciler executor stopped");
}

/// Handles processes the colony assigned to this executor whose reply never reached it (an
/// assign answered while it was stopping): they would otherwise stay running until their
/// deadline.
async fn resume_assigned<R: Reconciler>(driver: &Driver<R>) {
    let me = driver.key().id();
    let listed = driver
        .client()
        .get_processes(
            driver.key(),
            driver.colony(),
            ProcessState::Running,
            RESUME_LIMIT,
        )
        .await;
    match listed {
        Ok(list) => {
            for p in list.iter().filter(|p| p.assigned_executor_id == me) {
                handle_and_close(driver, p).await;
                let message = format!(
                    "resumed process {} ({}) assigned before the restart",
                    p.process_id, p.spec.func_name
                );
                driver.record(Level::Info, "", &message, None).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing running processes failed"),
    }
}

/// Whether a handled process may have changed what the site reports: it failed or did
/// something. A run that changed nothing has nothing new to report (and a status it wrote that
/// says something new wakes the reporter by itself).
fn changed_something(handled: &Result<Vec<String>, crate::Error>) -> bool {
    !matches!(handled, Ok(done) if done.is_empty())
}

async fn handle_and_close<R: Reconciler>(driver: &Driver<R>, process: &Process) {
    let pid = process.process_id.as_str();
    let key = driver.key();
    let handled = driver.handle(process).await;
    let changed = changed_something(&handled);
    let closed = match handled {
        Ok(done) => {
            let summary = if done.is_empty() {
                "no changes".to_string()
            } else {
                done.join("; ")
            };
            driver
                .client()
                .close_successful(key, pid, vec![summary])
                .await
        }
        Err(e) => {
            let target = process.spec.kwarg_str("blueprintName").unwrap_or_default();
            let message = format!("{} failed: {e}", process.spec.func_name);
            driver
                .record(Level::Error, target, &message, Some(pid))
                .await;
            driver
                .client()
                .close_failed(key, pid, vec![e.to_string()])
                .await
        }
    };
    if let Err(e) = closed {
        tracing::warn!(error = %e, process = pid, "closing process failed");
    }
    if changed {
        driver.recorder().changed();
    }
}

#[cfg(test)]
mod tests {
    use super::changed_something;

    #[test]
    fn only_a_run_that_did_something_or_failed_wakes_the_reporter() {
        assert!(!changed_something(&Ok(Vec::new())), "no changes");
        assert!(changed_something(&Ok(vec!["started web-0".into()])));
        assert!(changed_something(&Err(crate::Error::Failed("boom".into()))));
    }
}
