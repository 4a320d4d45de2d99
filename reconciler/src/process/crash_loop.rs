//! The self-healing loop's back-off for a blueprint whose instances keep ending: the first
//! restarts are at once, then each waits twice as long as the one before, up to 30 s, for as
//! long as instances of the same spec keep ending before they ran a minute. An instance that ran
//! a minute or more, or one of another spec (the blueprint changed), starts the count afresh.
//!
//! The count is not forgotten with time alone: a service that crashes at every start is
//! restarted every 30 s for as long as it does, not in a burst of quick restarts each time its
//! last ones are a minute old.

use std::collections::HashMap;
use std::time::Duration;

use super::table::Instance;

/// How long an instance must have run for its end to start the count afresh.
pub const STABLE_RUN: Duration = Duration::from_secs(60);
/// Restarts in a row that happen without delay.
const FREE_RESTARTS: u32 = 3;
/// The first delay after the free restarts, doubled at each restart after it.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// Longest restart delay.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);

/// An instance of a blueprint that ended, or a start of one that failed its health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The blueprint to converge again.
    pub blueprint: String,
    /// The spec it ran ([`super::ProcessSpec::template`]).
    pub template: String,
    /// How long it ran; `None` for a start that failed its health check (it never served).
    pub ran_for: Option<Duration>,
}

impl Ended {
    /// `instance`, found ended now.
    pub fn instance(instance: &Instance) -> Self {
        Self {
            blueprint: instance.blueprint.clone(),
            template: instance.template.clone(),
            ran_for: Some(maestro_common::time::age(instance.started_at_ms)),
        }
    }

    /// A start of `template` for `blueprint` that failed its health check.
    pub fn failed_start(blueprint: &str, template: &str) -> Self {
        Self {
            blueprint: blueprint.to_string(),
            template: template.to_string(),
            ran_for: None,
        }
    }
}

/// Per blueprint, its restarts in a row.
#[derive(Debug, Default)]
pub(super) struct CrashLoops(HashMap<String, Streak>);

#[derive(Debug)]
struct Streak {
    template: String,
    restarts: u32,
}

impl CrashLoops {
    /// How long to wait before converging `ended`'s blueprint again; counts that restart.
    pub(super) fn delay(&mut self, ended: &Ended) -> Duration {
        let streak = self
            .0
            .entry(ended.blueprint.clone())
            .or_insert_with(|| Streak {
                template: ended.template.clone(),
                restarts: 0,
            });
        let served = ended.ran_for.is_some_and(|ran| ran >= STABLE_RUN);
        if served || streak.template != ended.template {
            streak.template.clone_from(&ended.template);
            streak.restarts = 0;
        }
        let delay = restart_delay(streak.restarts);
        streak.restarts = streak.restarts.saturating_add(1);
        delay
    }
}

/// The delay before a restart that follows `restarts` in a row.
fn restart_delay(restarts: u32) -> Duration {
    match restarts.checked_sub(FREE_RESTARTS) {
        None => Duration::ZERO,
        Some(doublings) => FIRST_DELAY
            .saturating_mul(1 << doublings.min(16))
            .min(MAX_RESTART_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crashed(after: Duration) -> Ended {
        Ended {
            blueprint: "api".into(),
            template: "v1".into(),
            ran_for: Some(after),
        }
    }

    #[test]
    fn restarts_after_the_free_ones_wait_twice_as_long_each_up_to_the_bound() {
        let mut loops = CrashLoops::default();
        let delays: Vec<u64> = (0..12)
            .map(|_| loops.delay(&crashed(Duration::ZERO)).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000
            ]
        );
        assert_eq!(restart_delay(u32::MAX), MAX_RESTART_DELAY);
    }

    /// The loop of the self-healing task, on a clock of its own: an instance that ends at once
    /// after every start, for ten minutes.
    fn restarts_per_minute(mut ended: impl FnMut(Duration) -> Ended) -> Vec<usize> {
        let mut loops = CrashLoops::default();
        let mut now = Duration::ZERO;
        let mut per_minute = vec![0; 10];
        while now < Duration::from_secs(600) {
            per_minute[(now.as_secs() / 60) as usize] += 1;
            now += loops.delay(&ended(now));
        }
        per_minute
    }

    #[test]
    fn a_service_that_keeps_crashing_is_restarted_every_30_s_not_in_bursts() {
        let per_minute = restarts_per_minute(|_| crashed(Duration::ZERO));
        // The first minute has the free restarts and the doubling ones; after it, two a minute.
        assert_eq!(per_minute[0], 11, "{per_minute:?}");
        assert!(
            per_minute[2..].iter().all(|&n| n == 2),
            "a crash loop restarts every 30 s once its delay reached the bound: {per_minute:?}"
        );
    }

    #[test]
    fn a_start_that_keeps_failing_its_health_check_backs_off_the_same_way() {
        let mut loops = CrashLoops::default();
        let failed = Ended::failed_start("api", "v1");
        let delays: Vec<Duration> = (0..11).map(|_| loops.delay(&failed)).collect();
        assert_eq!(delays[2], Duration::ZERO);
        assert_eq!(delays[3], FIRST_DELAY);
        assert_eq!(delays[10], MAX_RESTART_DELAY);
    }

    #[test]
    fn an_instance_that_ran_a_minute_or_a_new_spec_starts_the_count_afresh() {
        let mut loops = CrashLoops::default();
        for _ in 0..10 {
            loops.delay(&crashed(Duration::ZERO));
        }
        assert_eq!(loops.delay(&crashed(Duration::ZERO)), MAX_RESTART_DELAY);
        // Ran just short of a minute: still the loop.
        let short = STABLE_RUN - Duration::from_millis(1);
        assert_eq!(loops.delay(&crashed(short)), MAX_RESTART_DELAY);
        // Ran a minute: it served, so this end is the first.
        assert_eq!(loops.delay(&crashed(STABLE_RUN)), Duration::ZERO);
        for _ in 0..10 {
            loops.delay(&crashed(Duration::ZERO));
        }
        // The blueprint changed: the new spec's first end restarts at once.
        let fixed = Ended {
            template: "v2".into(),
            ..crashed(Duration::ZERO)
        };
        assert_eq!(loops.delay(&fixed), Duration::ZERO);
        // Another blueprint has a count of its own.
        let other = Ended {
            blueprint: "web".into(),
            ..crashed(Duration::ZERO)
        };
        assert_eq!(loops.delay(&other), Duration::ZERO);
    }
}
