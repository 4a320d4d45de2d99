//! When the status reporter sends a heartbeat and when it sends every blueprint's status again.
//!
//! A status is sent whenever the site's view of a blueprint changes. Every blueprint's status is
//! also sent again, with a heartbeat, once `refresh` has passed since the last time: that repairs a
//! domain whose stored view went back in time (its store restored from a backup, its log server
//! replaced with an empty one) without paying a status per blueprint with every heartbeat.

use std::time::Duration;

use tokio::time::Instant;

/// The reporter's two periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportTiming {
    /// Time between heartbeat records.
    pub heartbeat: Duration,
    /// Time between sending every blueprint's status again (with the first heartbeat at or
    /// after it is due, so in the same push; at most every heartbeat).
    pub refresh: Duration,
}

impl ReportTiming {
    /// The timing `config` asks for (`heartbeat_interval_ms`, `status_refresh_interval_ms`).
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            heartbeat: Duration::from_millis(config.heartbeat_interval_ms),
            refresh: Duration::from_millis(config.status_refresh_interval_ms),
        }
    }
}

impl From<Duration> for ReportTiming {
    /// A heartbeat every `heartbeat`, statuses refreshed at the default
    /// `status_refresh_interval_ms`.
    fn from(heartbeat: Duration) -> Self {
        Self {
            heartbeat,
            refresh: Duration::from_millis(crate::config::DEFAULT_STATUS_REFRESH_INTERVAL_MS),
        }
    }
}

/// What a round of the reporter is to send besides the statuses that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    /// A heartbeat.
    pub heartbeat: bool,
    /// Every blueprint's status (always with a heartbeat).
    pub refresh: bool,
}

/// The reporter's clock: when the next heartbeat and the next refresh are due. The first round
/// sends both.
#[derive(Debug, Clone)]
pub struct Cadence {
    timing: ReportTiming,
    next_heartbeat: Instant,
    next_refresh: Instant,
}

impl Cadence {
    /// Both due now.
    pub fn new(timing: ReportTiming) -> Self {
        let now = Instant::now();
        Self {
            timing,
            next_heartbeat: now,
            next_refresh: now,
        }
    }

    /// What is due at `now`; what is due is then scheduled again from `now`.
    pub fn take(&mut self, now: Instant) -> Due {
        if now < self.next_heartbeat {
            return Due::default();
        }
        self.next_heartbeat = now + self.timing.heartbeat;
        let refresh = now >= self.next_refresh;
        if refresh {
            self.next_refresh = now + self.timing.refresh;
        }
        Due {
            heartbeat: true,
            refresh,
        }
    }

    /// Asks for the refresh again with the next heartbeat (a round that was to send it failed).
    pub fn refresh_at_next_heartbeat(&mut self) {
        self.next_refresh = self.next_heartbeat;
    }

    /// Makes the next heartbeat due at `now` (the sync has news: [`crate::gitsync::SharedSyncState::news`]);
    /// the one after follows a whole period later.
    pub fn heartbeat_at(&mut self, now: Instant) {
        self.next_heartbeat = self.next_heartbeat.min(now);
    }

    /// When the next heartbeat is due (a refresh only ever comes with one).
    pub fn next_heartbeat(&self) -> Instant {
        self.next_heartbeat
    }
}

/// The first wait between looks while a blueprint is not converged or a removal is pending, and
/// the wait again after a look that found a change. What the site's reconcilers do next pokes the
/// reporter anyway; the busy looks bound how late progress made without a poke (by an executor
/// outside the site agent) is reported.
pub const BUSY_INTERVAL: Duration = Duration::from_secs(1);

/// The longest wait between busy looks. Each busy look that finds nothing new doubles the wait up
/// to this, so a blueprint that stays unconverged (a process that keeps crashing, one that never
/// passes its health check) costs a look every 30 s instead of every second, and progress made
/// without a poke after a stall is reported at most as late as the stall had lasted (and 30 s).
pub const MAX_BUSY_INTERVAL: Duration = Duration::from_secs(30);

/// What a look at the colony found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// Something is still expected to change: a blueprint not converged, a removal pending, or
    /// the look failed.
    pub busy: bool,
    /// Something changed since the last look: a blueprint's status, a blueprint gone, a removal
    /// reported.
    pub news: bool,
}

/// The reporter's rounds: whether a round reads the colony, and when the next one runs unless a
/// poke or news comes first. A poke buys one look at the colony, not a window of them: every
/// later change pokes again. While something is expected to change the reporter looks again
/// after [`BUSY_INTERVAL`], waiting twice as long after each look that found nothing new, up to
/// [`MAX_BUSY_INTERVAL`]. The first round looks.
#[derive(Debug, Clone)]
pub struct Rounds {
    looks: Looks,
    poked: bool,
    busy: Option<Busy>,
}

/// The busy looks' back-off: the wait after the last look, and when the next is due.
#[derive(Debug, Clone, Copy)]
struct Busy {
    wait: Duration,
    next: Instant,
}

impl Rounds {
    /// Looks at least every `cold` when nothing asks for one; the first round, at `now`, looks.
    pub fn new(cold: Duration, now: Instant) -> Self {
        Self {
            looks: Looks::new(cold, now),
            poked: true,
            busy: None,
        }
    }

    /// Whether the round at `now` reads the colony: after a poke, when a busy look is due, with a
    /// refresh, or once the last look is `cold` old.
    pub fn look(&mut self, now: Instant, due: Due) -> bool {
        let busy_due = self.busy.is_some_and(|b| now >= b.next);
        self.looks.take(now, self.poked || busy_due, due)
    }

    /// What the round at `now` found when it looked (`None`: it did not look, and what the last
    /// look found still holds).
    pub fn ran(&mut self, now: Instant, seen: Option<Seen>) {
        let Some(seen) = seen else { return };
        self.busy = seen.busy.then(|| {
            let wait = match self.busy {
                Some(b) if !seen.news => b.wait.saturating_mul(2).min(MAX_BUSY_INTERVAL),
                _ => BUSY_INTERVAL,
            };
            Busy {
                wait,
                next: now + wait,
            }
        });
    }

    /// When the next round runs unless woken first: at the next heartbeat, or at the next busy
    /// look when that comes first.
    pub fn next(&self, next_heartbeat: Instant) -> Instant {
        self.busy
            .map_or(next_heartbeat, |b| b.next.min(next_heartbeat))
    }

    /// How the wait ended: with a poke or not.
    pub fn woken(&mut self, poked: bool) {
        self.poked = poked;
    }
}

/// When the reporter reads the colony: in a round something asked for (a wake-up, a blueprint not
/// converged yet), in a round with a refresh, and otherwise once the last look is `every` old. The
/// first round looks.
#[derive(Debug, Clone)]
pub struct Looks {
    every: Duration,
    next: Instant,
}

impl Looks {
    /// A first look due at `now`, later ones at most `every` apart.
    pub fn new(every: Duration, now: Instant) -> Self {
        Self { every, next: now }
    }

    /// Whether the round at `now` reads the colony (`urgent`: something asked for it); after a
    /// look the next one is due `every` later.
    pub fn take(&mut self, now: Instant, urgent: bool, due: Due) -> bool {
        let look = urgent || due.refresh || now >= self.next;
        if look {
            self.next = now + self.every;
        }
        look
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(10);

    fn timing(refresh_s: u64) -> ReportTiming {
        ReportTiming {
            heartbeat: BEAT,
            refresh: Duration::from_secs(refresh_s),
        }
    }

    /// Runs the cadence the way the reporter does (a round whenever the next heartbeat is due)
    /// for `rounds` heartbeats on the paused clock; returns the seconds since the start of each
    /// refresh.
    async fn refreshes(c: &mut Cadence, rounds: usize) -> Vec<u64> {
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..rounds {
            tokio::time::sleep_until(c.next_heartbeat()).await;
            let due = c.take(Instant::now());
            assert!(due.heartbeat, "a round at the heartbeat time sends one");
            if due.refresh {
                at.push((Instant::now() - start).as_secs());
            }
        }
        at
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_round_sends_a_heartbeat_and_every_status() {
        let mut c = Cadence::new(timing(60));
        assert_eq!(
            c.take(Instant::now()),
            Due {
                heartbeat: true,
                refresh: true
            }
        );
        // Rounds between heartbeats (a poke, a busy look) send neither.
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(c.take(Instant::now()), Due::default());
        assert_eq!(c.next_heartbeat() - Instant::now(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn news_brings_the_heartbeat_forward_and_the_period_restarts_from_it() {
        let mut c = Cadence::new(timing(600));
        assert!(c.take(Instant::now()).heartbeat);
        tokio::time::advance(Duration::from_secs(3)).await;
        c.heartbeat_at(Instant::now());
        assert!(c.take(Instant::now()).heartbeat, "sent at once, 7 s early");
        assert_eq!(c.next_heartbeat() - Instant::now(), BEAT);
        // News later than the heartbeat that is due anyway does not put it off.
        let due = c.next_heartbeat();
        c.heartbeat_at(due + Duration::from_secs(5));
        assert_eq!(c.next_heartbeat(), due);
    }

    #[tokio::test(start_paused = true)]
    async fn statuses_are_refreshed_once_per_refresh_interval_with_a_heartbeat() {
        let mut c = Cadence::new(timing(60));
        // 13 heartbeats: at 0, 10, ..., 120 s; refreshes at 0, 60 and 120 s.
        assert_eq!(refreshes(&mut c, 13).await, vec![0, 60, 120]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_between_heartbeats_waits_for_the_next_one() {
        let mut c = Cadence::new(timing(25));
        // Due at 25 s, sent with the heartbeat at 30 s; then due at 55 s, sent at 60 s.
        assert_eq!(refreshes(&mut c, 8).await, vec![0, 30, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_no_longer_than_the_heartbeat_comes_with_every_heartbeat() {
        let mut c = Cadence::new(timing(10));
        assert_eq!(refreshes(&mut c, 4).await, vec![0, 10, 20, 30]);
        let mut c = Cadence::new(timing(1));
        assert_eq!(refreshes(&mut c, 3).await, vec![0, 10, 20]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_sent_with_the_next_heartbeat() {
        let mut c = Cadence::new(timing(300));
        assert!(c.take(Instant::now()).refresh);
        c.refresh_at_next_heartbeat();
        assert_eq!(refreshes(&mut c, 3).await, vec![10]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_round_schedules_from_when_it_ran() {
        let mut c = Cadence::new(timing(60));
        c.take(Instant::now());
        // The reporter was busy (a slow colony) and came back 25 s late.
        tokio::time::advance(Duration::from_secs(35)).await;
        assert_eq!(
            c.take(Instant::now()),
            Due {
                heartbeat: true,
                refresh: false
            }
        );
        assert_eq!(c.next_heartbeat() - Instant::now(), BEAT);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(
            c.take(Instant::now()).refresh,
            "65 s after the last refresh"
        );
    }

    #[test]
    fn heartbeats_alone_look_at_the_colony_once_a_minute() {
        let start = Instant::now();
        let mut looks = Looks::new(Duration::from_secs(60), start);
        let heartbeat = Due {
            heartbeat: true,
            refresh: false,
        };
        let looked: Vec<u64> = (0..=13u64)
            .map(|i| i * 10)
            .filter(|&s| looks.take(start + Duration::from_secs(s), false, heartbeat))
            .collect();
        assert_eq!(
            looked,
            vec![0, 60, 120],
            "a look at the start, then every 60 s"
        );
    }

    #[test]
    fn a_wake_up_or_a_refresh_looks_at_once_and_restarts_the_minute() {
        let start = Instant::now();
        let mut looks = Looks::new(Duration::from_secs(60), start);
        let at = |s: u64| start + Duration::from_secs(s);
        let heartbeat = Due {
            heartbeat: true,
            refresh: false,
        };
        assert!(looks.take(at(0), false, heartbeat));
        assert!(!looks.take(at(10), false, heartbeat));
        assert!(looks.take(at(15), true, Due::default()), "woken: looks");
        assert!(
            !looks.take(at(70), false, heartbeat),
            "the minute runs from the wake-up"
        );
        assert!(looks.take(at(75), false, heartbeat));
        let refresh = Due {
            heartbeat: true,
            refresh: true,
        };
        assert!(looks.take(at(80), false, refresh), "a refresh looks");
        assert!(!looks.take(at(90), false, heartbeat));
    }

    /// The reporter's rounds on the paused clock, as `StatusReporter::run` drives them, for
    /// `secs` seconds with one poke at `poke_at`, a look at second `s` finding `colony(s)`: the
    /// seconds at which it looked at the colony.
    async fn looks_over(secs: u64, poke_at: u64, colony: impl Fn(u64) -> Seen) -> Vec<u64> {
        let start = Instant::now();
        let mut cadence = Cadence::new(timing(600));
        let mut rounds = Rounds::new(Duration::from_secs(60), start);
        let mut looked = Vec::new();
        let poke = start + Duration::from_secs(poke_at);
        loop {
            let now = Instant::now();
            let at = (now - start).as_secs();
            if at > secs {
                return looked;
            }
            let due = cadence.take(now);
            // A round that does not look sends at most a heartbeat and learns nothing.
            let seen = rounds.look(now, due).then(|| {
                looked.push(at);
                colony(at)
            });
            rounds.ran(now, seen);
            let wake = rounds.next(cadence.next_heartbeat());
            let poked = now < poke && wake >= poke;
            tokio::time::sleep_until(if poked { poke } else { wake }).await;
            rounds.woken(poked);
        }
    }

    fn seen(busy: bool, news: bool) -> Seen {
        Seen { busy, news }
    }

    #[tokio::test(start_paused = true)]
    async fn a_poke_is_one_look_and_only_a_busy_colony_is_looked_at_again_within_the_minute() {
        // Converged: the start, the poke at 15 s, then the first heartbeat a minute after it.
        assert_eq!(
            looks_over(90, 15, |_| Seen::default()).await,
            vec![0, 15, 80]
        );
        // A blueprint not converged at the poke and for two more seconds, each look finding
        // progress: a look every second until it converged, then none until the minute.
        let progress = |s| seen((15..18).contains(&s), (15..=18).contains(&s));
        assert_eq!(
            looks_over(90, 15, progress).await,
            vec![0, 15, 16, 17, 18, 80]
        );
        // Busy rounds wait for no heartbeat.
        let now = Instant::now();
        let mut rounds = Rounds::new(Duration::from_secs(60), now);
        rounds.ran(now, Some(seen(true, true)));
        assert_eq!(rounds.next(now + BEAT) - now, BUSY_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_blueprint_is_looked_at_twice_as_late_each_time_up_to_the_bound() {
        // Not converged from the poke at 15 s on, and nothing new after it: the waits double
        // from 1 s to MAX_BUSY_INTERVAL (30 s), and the heartbeats in between do not look.
        let stalled = |s| seen(s >= 15, s == 15);
        assert_eq!(
            looks_over(200, 15, stalled).await,
            vec![0, 15, 16, 18, 22, 30, 46, 76, 106, 136, 166, 196]
        );
        // Something new at 30 s: the waits start again from a second.
        let moved = |s| seen(s >= 15, s == 15 || s == 30);
        assert_eq!(
            looks_over(90, 15, moved).await,
            vec![0, 15, 16, 18, 22, 30, 31, 33, 37, 45, 61]
        );
        // A round that did not look leaves the back-off as it was.
        let now = Instant::now();
        let mut rounds = Rounds::new(Duration::from_secs(60), now);
        rounds.ran(now, Some(seen(true, true)));
        rounds.ran(now, Some(seen(true, false)));
        rounds.ran(now, None);
        assert_eq!(rounds.next(now + BEAT) - now, 2 * BUSY_INTERVAL);
    }
}
