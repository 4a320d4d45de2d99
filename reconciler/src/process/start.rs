//! The start step: a new instance of the desired spec, alive after `minReadySeconds` and, with a
//! health check, healthy within `startSeconds`. One that does not pass its check is of no use:
//! it is stopped at once (forgotten first, so its exit is no crash), the instance it was to
//! replace keeps serving, and the failure counts towards a fall-back ([`crate::fallback`]). One
//! that exits within `minReadySeconds` ended like any instance that ends: the convergence goes
//! on, forgets it and counts it towards its crash loop ([`super::crash_loop`]), so a crash loop
//! writes one status per restart, none once its wait is the longest.
//!
//! Neither wait holds the agent's shutdown: when the agent stops during `minReadySeconds` or
//! `startSeconds` (up to ten minutes each), the start ends at once, unjudged. The instance stays
//! recorded and running, as after a crash at that point, and the next convergence judges it.

use std::time::Duration;

use super::reconcile::{ProcessDesired, ProcessReconciler, lock};
use super::runtime::is_alive;
use super::table::Instance;
use crate::Outcome;

impl ProcessReconciler {
    /// Starts instance slot `index` of the blueprint `name`.
    pub(super) async fn start(&self, name: &str, d: &ProcessDesired, index: u32) -> Outcome {
        let instance = match self
            .runtime()
            .spawn(name, index, d.generation, &d.spec)
            .await
        {
            Ok(i) => i,
            Err(e) => return Outcome::failed(format!("starting instance {index}: {e}")),
        };
        if let Err(e) = self.table().insert(&instance).await {
            return Outcome::failed(format!("recording {}: {e}", instance.name()));
        }
        let Some(alive) = self
            .runtime()
            .unless_stopping(ready(&instance, d.spec.rollout.min_ready_ms))
            .await
        else {
            return unjudged(&instance);
        };
        if !alive {
            // An end like any other: the next round forgets it and counts it towards the crash
            // loop, in this convergence, so its status says the loop's back-off, not this pid.
            return Outcome::done(format!(
                "instance {} (pid {}) exited within minReadySeconds",
                instance.name(),
                instance.pid
            ));
        }
        let started = format!(
            "instance {} (pid {}, generation {})",
            instance.name(),
            instance.pid,
            d.generation
        );
        let Some(check) = &d.spec.health else {
            return Outcome::done(format!("started {started}"));
        };
        let Some(result) = self.runtime().unless_stopping(check.wait_healthy()).await else {
            return unjudged(&instance);
        };
        self.note_started(name, result.clone());
        match result {
            Ok(()) => Outcome::done(format!("started {started}; healthy")),
            Err(e) => {
                let stopped = self.discard(name, &instance).await;
                Outcome::failed(format!(
                    "{started} did not pass its health check within {}s: {e}; {stopped}; \
                     any instance it was to replace keeps running",
                    check.start.as_secs()
                ))
            }
        }
    }

    /// Records the health check of an instance the convergence in progress started: the first
    /// failure is kept.
    fn note_started(&self, name: &str, result: Result<(), String>) {
        let mut started = lock(&self.started);
        if !matches!(started.get(name), Some(Err(_))) {
            started.insert(name.to_string(), result);
        }
    }

    /// Forgets and stops `instance`; says what became of it.
    async fn discard(&self, name: &str, instance: &Instance) -> String {
        self.ends.stopping(instance.pid);
        if let Err(e) = self.table().remove(name, instance.pid) {
            return format!("forgetting it failed ({e}), so it was left running");
        }
        match self.runtime().stop(instance, self.grace).await {
            Ok(()) => "stopped it".to_string(),
            Err(e) => format!("stopping it failed: {e}"),
        }
    }
}

/// The outcome of a start the agent's stop cut short: the instance is left running and recorded.
fn unjudged(instance: &Instance) -> Outcome {
    Outcome::failed(format!(
        "instance {} (pid {}) started, not yet judged: the site agent is stopping; it stays \
         recorded, and the next convergence judges it",
        instance.name(),
        instance.pid
    ))
}

/// Whether a just-started instance is still alive after `min_ready_ms` (at once when 0).
async fn ready(instance: &Instance, min_ready_ms: u64) -> bool {
    if min_ready_ms > 0 {
        tokio::time::sleep(Duration::from_millis(min_ready_ms)).await;
    }
    is_alive(instance)
}
