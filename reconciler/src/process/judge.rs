//! The process reconciler's judgement after each convergence: what it saw of the health check
//! of the desired spec goes into the blueprint's count ([`crate::fallback`]), whose verdict the
//! status carries; a fall-back (and its end) is logged once at warn level. A start that failed
//! its check counts towards the blueprint's crash loop ([`super::crash_loop`]), unless the
//! blueprint fell back; while a restart is held back, the status says so and the self-healing
//! loop is asked to converge again when it is due.

use super::crash_loop::{CrashLoop, Ended, Trial, Wake};
use super::reconcile::{ObservedInstance, ProcessDesired, ProcessReconciler, lock};
use crate::Judgement;
use crate::fallback::{self, Count};

impl ProcessReconciler {
    /// Counts what the convergence of `name` towards `d` saw, ending with `observed`.
    pub(super) fn judge_health(
        &self,
        name: &str,
        d: &ProcessDesired,
        observed: &[ObservedInstance],
    ) -> Judgement {
        let started = lock(&self.started).remove(name);
        let start_failed = matches!(started, Some(Err(_)));
        // One probe tells for every live instance: the first live current one says it.
        let probed = observed
            .iter()
            .filter(|o| o.alive && d.is_current(&o.instance))
            .find_map(|o| match o.healthy {
                Some(true) => Some(Ok(())),
                Some(false) => Some(Err(o.check_error.clone().unwrap_or_default())),
                None => None,
            });
        let earlier_serving = observed
            .iter()
            .any(|o| o.alive && !d.is_current(&o.instance));
        let mut counts = lock(&self.counts);
        let before = counts
            .get(name)
            .filter(|c| c.key == d.key())
            .cloned()
            .unwrap_or_else(|| Count::fresh(d.key()));
        let after = before.next(
            fallback::seen(started, probed),
            d.fall_back_after,
            earlier_serving,
        );
        let mut warnings = Vec::new();
        match (before.fell_back(), after.fell_back()) {
            (false, true) => warnings.push(format!(
                "fell back from intent generation {} after {} failed health checks in a row: \
                 the instances of the earlier spec keep running, and this generation is not \
                 tried again until the blueprint changes",
                d.intent_generation,
                after.attempts()
            )),
            (true, false) => warnings.push(format!(
                "the fall-back from intent generation {} ends: no instance of the earlier spec \
                 is left, so this generation is tried again",
                d.intent_generation
            )),
            _ => {}
        }
        let fell_back = after.fell_back();
        let verdict = after.verdict();
        counts.insert(name.to_string(), after);
        drop(counts);
        if start_failed && !fell_back {
            self.count_end(&Ended::failed_start(name, &d.template));
        }
        let now = tokio::time::Instant::now();
        let looping = self
            .on_trial_served(name, d, observed, now)
            .filter(|_| !fell_back);
        let held = looping.filter(|h| h.due > now);
        // An instance on trial is judged again once it has run long enough to end the loop.
        let trial_ends = observed
            .iter()
            .filter_map(|o| match Self::trial(looping.as_ref(), d, o, now) {
                Some(Trial::On { left }) => Some(now + left),
                _ => None,
            })
            .min();
        let wake = held
            .map(|h| h.due)
            .or_else(|| (start_failed && !fell_back).then_some(now))
            .or(trial_ends);
        if let Some(at) = wake {
            // When the restart held back is due, else at once after a failed start, else when
            // the instance on trial has run long enough. The self-healing loop is gone only when
            // the reconciler stops.
            let _ = self.wakes.send(Wake {
                blueprint: name.to_string(),
                at,
            });
        }
        // The same sentence while a restart waits and while its instance is on trial: a steady
        // crash loop writes the same status at each restart.
        let notes = looping.iter().map(CrashLoop::sentence).collect();
        Judgement {
            verdict,
            warnings,
            notes,
        }
    }

    /// The crash loop `d`'s spec is in, after ending it when an instance on trial served: ran
    /// [`super::crash_loop::STABLE_RUN`] since the loop's last end.
    fn on_trial_served(
        &self,
        name: &str,
        d: &ProcessDesired,
        observed: &[ObservedInstance],
        now: tokio::time::Instant,
    ) -> Option<CrashLoop> {
        let looping = self.looping(d)?;
        let served = observed
            .iter()
            .any(|o| Self::trial(Some(&looping), d, o, now) == Some(Trial::Served));
        if served {
            lock(&self.crash_loops).forget(name);
            return None;
        }
        Some(looping)
    }
}
