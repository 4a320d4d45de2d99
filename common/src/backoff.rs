//! Exponential backoff for retries.

use std::time::Duration;

/// Doubling backoff between `min` and `max`, with ±20 % jitter derived from a counter
/// (deterministic, so paused-time tests can reason about it).
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `min` and capped at `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.min.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        let base = exp.min(self.max);
        let jitter = (u64::from(self.attempt).wrapping_mul(2_654_435_761) % 41) as i64 - 20; // -20..=20 %
        let ms = base.as_millis() as i64;
        Duration::from_millis((ms + ms * jitter / 100).max(1) as u64).min(self.max)
    }

    /// Attempts made since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts again from `min`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] <= Duration::from_millis(120));
        assert!(delays[3] > delays[0]);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        b.reset();
        assert_eq!(b.attempts(), 0);
    }
}
