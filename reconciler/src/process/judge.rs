//! The process reconciler's judgement after each convergence: what it saw of the health check
//! of the desired spec goes into the blueprint's count ([`crate::fallback`]), whose verdict the
//! status carries; a fall-back (and its end) is logged once at warn level. A start that failed
//! its check counts towards the blueprint's crash loop ([`super::crash_loop`]), unless the
//! blueprint fell back; while a restart is held back, the status says so and the self-healing
//! loop is asked to converge again when it is due.

use super::crash_loop::{Ended, Wake};
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
        let held = self.held(d).filter(|_| !fell_back);
        if (start_failed && !fell_back) || held.is_some() {
            // Tried again at once, or when the restart held back is due. The self-healing loop
            // is gone only when the reconciler stops.
            let _ = self.wakes.send(Wake {
                blueprint: name.to_string(),
                at: held.map_or_else(tokio::time::Instant::now, |h| h.due),
            });
        }
        let notes = held.iter().map(super::crash_loop::Held::sentence).collect();
        Judgement {
            verdict,
            warnings,
            notes,
        }
    }
}
