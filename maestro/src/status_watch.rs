//! Status watching as its own component: one task per registered domain follows its
//! `WatchIntentStatus` stream over the domain's shared channel (reconnecting with backoff;
//! restarted when the domain re-registers with a new endpoint) and records in the registry
//! whether the stream is open (a stream down longer than the threshold makes the domain
//! unreachable). What it hears goes out as data, [`StatusEvent`], through a channel: every
//! status, a domain heard again (its orders re-roll at once), and a liveness tick so that
//! silence shows up without any event. It never touches orders.

use crate::config::Config;
use crate::domain_channels::DomainChannels;
use crate::intent::IntentStatus;
use crate::registry::{DomainEvent, DomainRecord, DomainRegistry};
use maestro_common::backoff::Backoff;
use maestro_common::grpc::MAX_MESSAGE_BYTES;
use maestro_common::time::now_millis;
use maestro_proto::intent::v1 as pb;
use pb::intent_service_client::IntentServiceClient;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How many events may wait for the engine before the watchers wait for it.
const QUEUE: usize = 1024;

/// What the watchers heard.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusEvent {
    /// A domain reported an intent status (`domain` is the domain it came from).
    Status(IntentStatus),
    /// A domain was heard again after being unreachable.
    DomainHeard(String),
    /// Time passed: liveness may have flipped without any event.
    LivenessTick,
}

/// Everything a watcher needs.
#[derive(Debug, Clone)]
struct Watching {
    registry: DomainRegistry,
    channels: DomainChannels,
    backoff: Backoff,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    events: mpsc::Sender<StatusEvent>,
}

/// Starts the watcher supervisor over the domains of `registry` and the liveness ticker;
/// returns where their events arrive. They stop at `shutdown`.
pub fn start(
    registry: DomainRegistry,
    channels: DomainChannels,
    config: &Config,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> mpsc::Receiver<StatusEvent> {
    let (tx, rx) = mpsc::channel(QUEUE);
    // A quarter of the threshold, at most a second: flips show up soon after the threshold.
    // Reasons carry timestamps, not ages, so a tick without a flip changes no order.
    let every = Duration::from_millis((config.domain_unreachable_after_ms / 4).clamp(100, 1_000));
    let watching = Watching {
        registry,
        channels,
        backoff: config.backoff(),
        shutdown,
        tasks: tasks.clone(),
        events: tx,
    };
    tasks.spawn(tick_liveness(watching.clone(), every));
    tasks.spawn(supervise(watching));
    rx
}

async fn supervise(w: Watching) {
    let mut events = w.registry.subscribe();
    let mut watchers: HashMap<String, (String, CancellationToken)> = HashMap::new();
    let mut relist = true;
    loop {
        if relist {
            relist = false;
            match w.registry.list() {
                Ok(domains) => domains
                    .into_iter()
                    .for_each(|d| ensure(&w, &mut watchers, d)),
                Err(e) => tracing::error!(error = %e, "listing domains failed"),
            }
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(DomainEvent::Registered(d)) => ensure(&w, &mut watchers, d),
                Ok(DomainEvent::BackOnline(id)) => {
                    if w.events.send(StatusEvent::DomainHeard(id)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => relist = true,
                Err(RecvError::Closed) => break,
            },
            () = w.shutdown.cancelled() => break,
        }
    }
    watchers.values().for_each(|(_, t)| t.cancel());
}

/// Starts a watcher for `d` unless one runs for the same endpoint.
fn ensure(
    w: &Watching,
    watchers: &mut HashMap<String, (String, CancellationToken)>,
    d: DomainRecord,
) {
    if watchers.get(&d.id).is_some_and(|(ep, _)| *ep == d.endpoint) {
        return;
    }
    if let Some((_, old)) = watchers.remove(&d.id) {
        old.cancel();
    }
    let token = w.shutdown.child_token();
    w.registry.stream_watching(&d.id, now_millis());
    watchers.insert(d.id.clone(), (d.endpoint.clone(), token.clone()));
    w.tasks.spawn(watch_domain(w.clone(), d, token));
}

#[tracing::instrument(skip_all, fields(domain = %domain.id))]
async fn watch_domain(w: Watching, domain: DomainRecord, stop: CancellationToken) {
    let mut backoff = w.backoff.clone();
    while !stop.is_cancelled() {
        let followed = tokio::select! {
            r = follow(&w, &domain, &mut backoff) => r,
            () = stop.cancelled() => return,
        };
        w.registry.stream_lost(&domain.id, now_millis());
        if let Err(e) = followed {
            tracing::debug!(error = %e, "intent status stream ended; reconnecting");
        }
        if backoff.wait(&stop).await {
            return;
        }
    }
}

async fn follow(
    w: &Watching,
    domain: &DomainRecord,
    backoff: &mut Backoff,
) -> Result<(), tonic::Status> {
    let ch = w
        .channels
        .channel(&domain.id)
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut client = IntentServiceClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let mut stream = client
        .watch_intent_status(pb::WatchIntentStatusRequest {})
        .await?
        .into_inner();
    w.registry.stream_opened(&domain.id, now_millis());
    while let Some(msg) = stream.message().await? {
        backoff.reset();
        let mut status = match IntentStatus::try_from(msg) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring invalid intent status");
                continue;
            }
        };
        status.domain = domain.id.clone();
        if w.events.send(StatusEvent::Status(status)).await.is_err() {
            // The engine stopped: we are shutting down.
            return Ok(());
        }
    }
    Ok(())
}

async fn tick_liveness(w: Watching, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if w.events.send(StatusEvent::LivenessTick).await.is_err() {
                    return;
                }
            }
            () = w.shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::DomainRegistration;
    use maestro_proto::domain::v1 as dpb;
    use tokio::time::Instant;

    struct Watched {
        registry: DomainRegistry,
        events: mpsc::Receiver<StatusEvent>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    }

    fn watch(unreachable_after_ms: u64) -> Watched {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let registry = DomainRegistry::open(&db, unreachable_after_ms).unwrap();
        let config = Config {
            domain_unreachable_after_ms: unreachable_after_ms,
            ..Config::default()
        };
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let channels = DomainChannels::new(registry.clone(), None);
        let events = start(
            registry.clone(),
            channels,
            &config,
            shutdown.clone(),
            &tasks,
        );
        Watched {
            registry,
            events,
            shutdown,
            tasks,
        }
    }

    impl Watched {
        async fn stop(self) {
            self.shutdown.cancel();
            self.tasks.close();
            self.tasks.wait().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ticks_a_quarter_of_the_threshold_apart() {
        let mut w = watch(2_000);
        let start = Instant::now();
        assert_eq!(w.events.recv().await, Some(StatusEvent::LivenessTick));
        assert_eq!(w.events.recv().await, Some(StatusEvent::LivenessTick));
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        w.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_heard_again_is_reported() {
        let mut w = watch(60_000);
        let reg = DomainRegistration::try_from(dpb::RegisterDomainRequest {
            id: "north".into(),
            endpoint: "http://127.0.0.1:1".into(),
            ..Default::default()
        })
        .unwrap();
        // Registered long ago and silent since: unreachable until this heartbeat.
        w.registry.register(reg, 1_000).await.unwrap();
        w.registry.heartbeat("north", now_millis()).unwrap();
        loop {
            match w.events.recv().await.unwrap() {
                StatusEvent::DomainHeard(d) => break assert_eq!(d, "north"),
                StatusEvent::LivenessTick => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        w.stop().await;
    }
}
