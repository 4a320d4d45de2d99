//! The one way tests wait: [`within`] awaits a future (a channel, a stream, a task) and
//! [`until`] polls a condition with no signal of its own (a /proc scan, a read-only API), both
//! under a timeout that only guards against deadlock. A timeout names what was awaited and how
//! long it took.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Deadlock guard of a wait on something that normally happens within seconds.
pub const GUARD: Duration = Duration::from_secs(60);

/// How often [`until`] checks its condition.
pub const POLL: Duration = Duration::from_millis(50);

/// A wait that ran out of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout {
    /// What was awaited.
    pub what: String,
    /// How long the wait lasted.
    pub elapsed: Duration,
}

impl Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}",
            self.elapsed, self.what
        )
    }
}

impl std::error::Error for Timeout {}

/// Awaits `future` for at most `timeout`; fails with a [`Timeout`] naming `what`.
pub async fn within<T>(
    what: impl Display,
    timeout: Duration,
    future: impl Future<Output = T>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    tokio::time::timeout(timeout, future).await.map_err(|_| {
        anyhow::Error::new(Timeout {
            what: what.to_string(),
            elapsed: started.elapsed(),
        })
    })
}

/// Runs `check` every [`POLL`] until it yields a value and returns it. An error from `check`
/// ends the wait with that error; after `timeout` (also while a check hangs) the wait fails with
/// a [`Timeout`] naming `what`.
pub async fn until<T>(
    what: impl Display,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    within(what, timeout, async {
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn until_returns_the_first_value() {
        let mut n = 0;
        let got = until("three checks", GUARD, async || {
            n += 1;
            Ok((n == 3).then_some(n))
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn until_times_out_naming_what() {
        let err = until("never", Duration::from_secs(1), async || Ok(None::<()>))
            .await
            .unwrap_err();
        let timeout = err.downcast_ref::<Timeout>().expect("a Timeout");
        assert_eq!(timeout.what, "never");
        assert!(timeout.elapsed >= Duration::from_secs(1));
        assert!(err.to_string().starts_with("timed out after 1"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn until_stops_at_an_error() {
        let err = until("a failing check", GUARD, async || {
            anyhow::bail!("broken") as anyhow::Result<Option<()>>
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    #[tokio::test(start_paused = true)]
    async fn within_guards_a_hanging_future() {
        let err = within("a pending future", GUARD, std::future::pending::<()>())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("a pending future"), "{err}");
    }
}
