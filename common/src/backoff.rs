//! Exponential backoff for retries.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

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

    /// Waits the next delay unless `shutdown` comes first; true when it did (stop retrying).
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        pause(self.next_delay(), shutdown).await
    }
}

/// Waits `delay` unless `shutdown` comes first; true when it did.
pub async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}

/// Runs `op` until it succeeds, waiting `backoff` between failed attempts (each failure is
/// logged as a warning about `what`); `None` when `shutdown` came first. The one retry loop of
/// the workspace: callers never write "attempt, select on shutdown, sleep" by hand.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    mut op: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return None,
            r = op() => r,
        };
        match attempt {
            Ok(v) => {
                backoff.reset();
                return Some(v);
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt = backoff.attempts() + 1, "{what} failed; retrying");
                if backoff.wait(shutdown).await {
                    return None;
                }
            }
        }
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

    #[tokio::test(start_paused = true)]
    async fn retry_backs_off_until_success_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let shutdown = CancellationToken::new();
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let got = retry("test", &mut b, &shutdown, || {
            calls += 1;
            let n = calls;
            async move { if n < 4 { Err("not yet") } else { Ok(n) } }
        })
        .await;
        assert_eq!(got, Some(4));
        // Three waits of about 100, 200 and 400 ms (±20 %).
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(560) && waited <= Duration::from_millis(840),
            "{waited:?}"
        );
        assert_eq!(b.attempts(), 0, "reset after success");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_and_wait_stop_at_shutdown() {
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop.cancel();
        });
        let got: Option<()> = retry("test", &mut b, &shutdown, || async { Err("down") }).await;
        assert_eq!(got, None);
        assert!(
            b.wait(&shutdown).await,
            "a cancelled token ends the wait at once"
        );
        assert!(!pause(Duration::from_millis(1), &CancellationToken::new()).await);
    }
}
