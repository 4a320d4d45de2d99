//! The background retention loop of a running log server: one pass at start (by `run`, before it
//! serves), then one every `retention_interval_ms`, until shutdown. A failed pass is logged and
//! retried at the next tick; the loop never dies on an error.

use crate::config::Config;
use crate::store::{RecordStore, Retention, RetentionOutcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The retention policy of `config`.
pub(crate) fn policy(config: &Config) -> Retention {
    Retention {
        max_records: config.retention_max_records,
        max_bytes: config.retention_max_bytes,
        max_age: config.retention_max_age_ms.map(Duration::from_millis),
    }
}

/// One pass as of the wall clock now; errors are logged.
pub(crate) async fn pass(store: &RecordStore, policy: &Retention) -> Option<RetentionOutcome> {
    let now = maestro_common::time::now_millis();
    match store.apply_retention(policy, now).await {
        Ok(out) => {
            if out.removed > 0 {
                tracing::info!(
                    removed = out.removed,
                    protected = out.protected,
                    stored_records = store.stored_records(),
                    stored_bytes = store.stored_bytes(),
                    removed_through = store.removed_through(),
                    "retention removed records"
                );
            }
            Some(out)
        }
        Err(e) => {
            tracing::error!(error = %e, "retention pass failed; retrying at the next interval");
            None
        }
    }
}

/// Runs a pass every `interval` (the first one `interval` from now) until `shutdown`.
pub(crate) async fn run(
    store: Arc<RecordStore>,
    policy: Retention,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        pass(&store, &policy).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, Record, SiteHeartbeat};
    use maestro_common::ResourceName;

    fn heartbeat(sender_sequence: u64) -> Record {
        Record {
            sequence: 0,
            domain: "d".into(),
            site: ResourceName::parse("site", "s1").unwrap(),
            blueprint: None,
            generation: 0,
            stream: "heartbeat".into(),
            sender_sequence,
            observed_at: None,
            received_at: None,
            intent_id: String::new(),
            order_id: String::new(),
            body: Body::Heartbeat(SiteHeartbeat {
                blueprints: 0,
                ..SiteHeartbeat::default()
            }),
        }
    }

    /// Lets the loop run until `done` holds; paused time does not advance while it yields.
    async fn until(done: impl Fn() -> bool) {
        for _ in 0..100_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("condition not reached");
    }

    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_every_interval_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RecordStore::open(dir.path()).unwrap());
        store
            .append((1..=5).map(heartbeat).collect())
            .await
            .unwrap();
        let policy = Retention {
            max_records: Some(2),
            ..Retention::default()
        };
        let shutdown = CancellationToken::new();
        let interval = Duration::from_secs(10);
        let task = tokio::spawn(run(store.clone(), policy, interval, shutdown.clone()));
        // Let the loop start its clock, then check that nothing happens before the first interval.
        settle().await;
        tokio::time::advance(interval - Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(store.stored_records(), 5);
        tokio::time::advance(Duration::from_millis(1)).await;
        until(|| store.stored_records() == 2).await;
        // The next interval trims what arrived since.
        store
            .append((6..=8).map(heartbeat).collect())
            .await
            .unwrap();
        tokio::time::advance(interval).await;
        until(|| store.stored_records() == 2).await;
        assert_eq!(store.removed_through(), 6);
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn policy_follows_the_config() {
        let config = Config {
            retention_max_records: Some(1),
            retention_max_bytes: Some(2),
            retention_max_age_ms: Some(3),
            ..Config::default()
        };
        assert_eq!(
            policy(&config),
            Retention {
                max_records: Some(1),
                max_bytes: Some(2),
                max_age: Some(Duration::from_millis(3)),
            }
        );
        assert!(!policy(&Config::default()).is_limited());
    }
}
