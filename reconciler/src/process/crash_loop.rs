//! The back-off of a blueprint whose instances keep ending: the first restarts are at once,
//! then each waits twice as long as the one before, up to 30 s, for as long as instances of the
//! same spec keep ending before they ran a minute. An instance that ran a minute or more, or one
//! of another spec (the blueprint changed), starts the count afresh.
//!
//! The count is not forgotten with time alone: a service that crashes at every start is
//! restarted every 30 s for as long as it does, not in a burst of quick restarts each time its
//! last ones are a minute old. And the back-off holds for every convergence, whoever asked for
//! it (the self-healing loop, the colony's periodic reconcile, a new commit): no slot of the
//! spec is started before the restart is due, as Kubernetes's kubelet holds a crash-looping
//! container in `CrashLoopBackOff`.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

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
    /// The blueprint it belongs to.
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

/// A convergence of `blueprint` to run at `at`: when a held-back restart is due, or at once
/// after an instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    /// The blueprint to converge.
    pub blueprint: String,
    /// When.
    pub at: Instant,
}

/// A blueprint's crash loop: its restarts wait; while `due` is ahead no slot of its spec starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoop {
    /// When the next start is due.
    pub due: Instant,
    /// The wait, counted from the last end.
    pub wait: Duration,
    /// Ends in a row that led to it.
    pub ends: u32,
}

impl CrashLoop {
    /// The sentence for the blueprint's status: the same for every convergence until the next
    /// end, so holding back writes no new status; and, once the wait is the longest, the same
    /// at every end, so a steady crash loop writes no new status at each restart (its site, its
    /// domain and maestro hear of it once; each restart is in the site's log).
    pub fn sentence(&self) -> String {
        let ends = if self.wait >= MAX_RESTART_DELAY {
            format!("{} or more", longest_wait_from())
        } else {
            self.ends.to_string()
        };
        let stable = STABLE_RUN.as_secs();
        format!(
            "crash loop: its instances ended {ends} times in a row, each before it ran {stable}s; \
             a restart waits {:?} after the last end and is ready once it has run {stable}s",
            self.wait
        )
    }

    /// Where a live instance of the loop's spec that has run for `ran` stands at `now`.
    pub fn trial(&self, ran: Duration, now: Instant) -> Trial {
        let last_end = self.due.checked_sub(self.wait).unwrap_or(self.due);
        if ran >= now.saturating_duration_since(last_end) {
            Trial::Before
        } else if ran < STABLE_RUN {
            Trial::On {
                left: STABLE_RUN - ran,
            }
        } else {
            Trial::Served
        }
    }
}

/// Where a live instance stands in its blueprint's crash loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trial {
    /// It started before the loop's last end: the loop's ends are another slot's.
    Before,
    /// It started after the last end and is not ready until it has run [`STABLE_RUN`], `left`
    /// from now.
    On {
        /// How long it has yet to run.
        left: Duration,
    },
    /// It started after the last end and ran [`STABLE_RUN`]: it served, the loop is over.
    Served,
}

/// The first count of ends in a row whose wait is the longest.
fn longest_wait_from() -> u32 {
    (1..=64)
        .find(|&ends| restart_delay(ends - 1) >= MAX_RESTART_DELAY)
        .unwrap_or(64)
}

/// Per blueprint, its ends in a row and when its next start is due.
#[derive(Debug, Default)]
pub(super) struct CrashLoops(HashMap<String, Streak>);

#[derive(Debug)]
struct Streak {
    template: String,
    ends: u32,
    due: Instant,
}

impl Streak {
    /// The wait before the start that follows its last end.
    fn wait(&self) -> Duration {
        restart_delay(self.ends.saturating_sub(1))
    }
}

impl CrashLoops {
    /// Counts `ended` (at `now`); returns how long the blueprint's next start waits.
    pub(super) fn ended(&mut self, ended: &Ended, now: Instant) -> Duration {
        let streak = self
            .0
            .entry(ended.blueprint.clone())
            .or_insert_with(|| Streak {
                template: ended.template.clone(),
                ends: 0,
                due: now,
            });
        let served = ended.ran_for.is_some_and(|ran| ran >= STABLE_RUN);
        if served || streak.template != ended.template {
            streak.template.clone_from(&ended.template);
            streak.ends = 0;
        }
        streak.ends = streak.ends.saturating_add(1);
        let wait = streak.wait();
        streak.due = now + wait;
        wait
    }

    /// Whether starts of `template` for `blueprint` are held back at `now`, and until when.
    pub(super) fn held(&self, blueprint: &str, template: &str, now: Instant) -> Option<CrashLoop> {
        self.looping(blueprint, template).filter(|h| h.due > now)
    }

    /// The crash loop `template`'s instances of `blueprint` are in, if they are: ends in a row
    /// whose restarts wait, the next one due or not.
    pub(super) fn looping(&self, blueprint: &str, template: &str) -> Option<CrashLoop> {
        let streak = self.0.get(blueprint)?;
        let wait = streak.wait();
        (streak.template == template && !wait.is_zero()).then_some(CrashLoop {
            due: streak.due,
            wait,
            ends: streak.ends,
        })
    }

    /// Drops the count of a blueprint that is gone, or whose instance on trial served: ran
    /// [`STABLE_RUN`] after the loop's last end.
    pub(super) fn forget(&mut self, blueprint: &str) {
        self.0.remove(blueprint);
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

    /// The tests' own clock starts here.
    fn t0() -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

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
            .map(|_| loops.ended(&crashed(Duration::ZERO), t0()).as_millis() as u64)
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
            now += loops.ended(&ended(now), t0() + now);
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
    fn the_status_sentence_changes_with_each_end_until_the_wait_is_the_longest() {
        let mut loops = CrashLoops::default();
        let sentences: Vec<String> = (0..20)
            .map(|_| {
                let wait = loops.ended(&crashed(Duration::ZERO), t0());
                loops.held("api", "v1", t0()).map_or_else(
                    || {
                        assert_eq!(wait, Duration::ZERO, "only a free restart is not held");
                        String::new()
                    },
                    |held| held.sentence(),
                )
            })
            .collect();
        let first_longest = longest_wait_from() as usize;
        assert_eq!(
            first_longest, 11,
            "250 ms doubled up to 30 s after three free restarts"
        );
        let growing = &sentences[FREE_RESTARTS as usize..first_longest - 1];
        for pair in growing.windows(2) {
            assert_ne!(pair[0], pair[1], "each end while the wait grows is news");
        }
        let steady = &sentences[first_longest - 1..];
        assert!(
            steady.iter().all(|s| s == &steady[0]),
            "a steady crash loop says the same at every end: {steady:#?}"
        );
        assert!(
            steady[0].contains("ended 11 or more times in a row")
                && steady[0].contains("a restart waits 30s after the last end"),
            "{}",
            steady[0]
        );
    }

    #[test]
    fn an_instance_started_after_the_last_end_is_on_trial_until_it_has_run_a_minute() {
        let mut loops = CrashLoops::default();
        for _ in 0..11 {
            loops.ended(&crashed(Duration::ZERO), t0());
        }
        // The last end at t0; its restart due 30 s later.
        let looping = loops.looping("api", "v1").expect("in a crash loop");
        assert_eq!(looping.due, t0() + MAX_RESTART_DELAY);
        assert_eq!(
            loops.held("api", "v1", t0() + MAX_RESTART_DELAY),
            None,
            "due: not held"
        );
        assert!(
            loops.looping("api", "v2").is_none(),
            "another spec is not in the loop"
        );
        let now = t0() + Duration::from_secs(100);
        // Restarted at t0 + 30 s: 70 s ago. An instance of another slot, 200 s ago.
        let restarted = |ran: u64| looping.trial(Duration::from_secs(ran), now);
        assert_eq!(restarted(200), Trial::Before, "started before the last end");
        assert_eq!(
            restarted(10),
            Trial::On {
                left: Duration::from_secs(50)
            }
        );
        assert_eq!(restarted(70), Trial::Served);
        assert_eq!(restarted(60), Trial::Served, "a minute ends the trial");
        loops.forget("api");
        assert!(
            loops.looping("api", "v1").is_none(),
            "served: the loop is over"
        );
        // The free restarts are no loop.
        for _ in 0..FREE_RESTARTS {
            loops.ended(&crashed(Duration::ZERO), t0());
        }
        assert!(loops.looping("api", "v1").is_none());
    }

    #[test]
    fn a_start_that_keeps_failing_its_health_check_backs_off_the_same_way() {
        let mut loops = CrashLoops::default();
        let failed = Ended::failed_start("api", "v1");
        let delays: Vec<Duration> = (0..11).map(|_| loops.ended(&failed, t0())).collect();
        assert_eq!(delays[2], Duration::ZERO);
        assert_eq!(delays[3], FIRST_DELAY);
        assert_eq!(delays[10], MAX_RESTART_DELAY);
    }

    #[test]
    fn an_instance_that_ran_a_minute_or_a_new_spec_starts_the_count_afresh() {
        let mut loops = CrashLoops::default();
        for _ in 0..10 {
            loops.ended(&crashed(Duration::ZERO), t0());
        }
        assert_eq!(
            loops.ended(&crashed(Duration::ZERO), t0()),
            MAX_RESTART_DELAY
        );
        // Ran just short of a minute: still the loop.
        let short = STABLE_RUN - Duration::from_millis(1);
        assert_eq!(loops.ended(&crashed(short), t0()), MAX_RESTART_DELAY);
        // Ran a minute: it served, so this end is the first.
        assert_eq!(loops.ended(&crashed(STABLE_RUN), t0()), Duration::ZERO);
        for _ in 0..10 {
            loops.ended(&crashed(Duration::ZERO), t0());
        }
        // The blueprint changed: the new spec's first end restarts at once.
        let fixed = Ended {
            template: "v2".into(),
            ..crashed(Duration::ZERO)
        };
        assert_eq!(loops.ended(&fixed, t0()), Duration::ZERO);
        // Another blueprint has a count of its own.
        let other = Ended {
            blueprint: "web".into(),
            ..crashed(Duration::ZERO)
        };
        assert_eq!(loops.ended(&other, t0()), Duration::ZERO);
    }

    #[test]
    fn a_restart_is_held_back_for_every_convergence_until_it_is_due() {
        let mut loops = CrashLoops::default();
        let crash = crashed(Duration::ZERO);
        // The free restarts hold nothing back.
        for _ in 0..FREE_RESTARTS {
            loops.ended(&crash, t0());
            assert_eq!(loops.held("api", "v1", t0()), None);
        }
        assert_eq!(loops.ended(&crash, t0()), FIRST_DELAY);
        let held = loops
            .held("api", "v1", t0())
            .expect("held back after the free restarts");
        assert_eq!(held.due, t0() + FIRST_DELAY);
        assert_eq!(held.ends, FREE_RESTARTS + 1);
        assert!(
            held.sentence().contains("ended 4 times in a row"),
            "{}",
            held.sentence()
        );
        assert!(
            held.sentence()
                .contains("a restart waits 250ms after the last end"),
            "{}",
            held.sentence()
        );
        let just_before = t0() + FIRST_DELAY - Duration::from_millis(1);
        assert!(loops.held("api", "v1", just_before).is_some());
        assert_eq!(loops.held("api", "v1", held.due), None, "due: it starts");
        // Another spec of the blueprint (a fix rolled out) and another blueprint start at once.
        assert_eq!(loops.held("api", "v2", t0()), None);
        assert_eq!(loops.held("web", "v1", t0()), None);
        // A blueprint that is gone has no count left.
        loops.forget("api");
        assert_eq!(loops.held("api", "v1", t0()), None);
        assert_eq!(loops.ended(&crash, t0()), Duration::ZERO);
    }
}
