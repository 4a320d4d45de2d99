//! Status watchers: one task per registered domain follows its `WatchIntentStatus` stream over
//! the domain's shared channel (reconnecting with backoff; restarted when the domain
//! re-registers with a new endpoint), records whether the stream is open (a stream down longer than the threshold makes the domain
//! unreachable) and feeds every status to the engine. A domain heard again re-rolls its orders
//! at once; a liveness ticker re-rolls open orders so silence shows up without any event.

use crate::domain_channels::DomainChannels;
use crate::engine::Engine;
use crate::intent::IntentStatus;
use crate::registry::{DomainEvent, DomainRecord};
use maestro_common::grpc::MAX_MESSAGE_BYTES;
use maestro_proto::intent::v1 as pb;
use pb::intent_service_client::IntentServiceClient;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Starts the watcher supervisor (watching over the shared `channels`) and the liveness
/// ticker.
pub fn start(engine: &Engine, channels: DomainChannels) {
    let e = engine.clone();
    engine
        .tasks()
        .spawn(async move { supervise(e, channels).await });
    let e = engine.clone();
    engine.tasks().spawn(async move { tick_liveness(e).await });
}

async fn supervise(engine: Engine, channels: DomainChannels) {
    let mut events = engine.registry().subscribe();
    let mut watchers: HashMap<String, (String, CancellationToken)> = HashMap::new();
    let mut relist = true;
    loop {
        if relist {
            relist = false;
            match engine.registry().list() {
                Ok(domains) => domains
                    .into_iter()
                    .for_each(|d| ensure(&engine, &channels, &mut watchers, d)),
                Err(e) => tracing::error!(error = %e, "listing domains failed"),
            }
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(DomainEvent::Registered(d)) => ensure(&engine, &channels, &mut watchers, d),
                Ok(DomainEvent::BackOnline(id)) => {
                    let e = engine.clone();
                    engine.tasks().spawn(async move {
                        if let Err(err) = e.reroll_domain(&id).await {
                            tracing::error!(domain = %id, error = %err, "re-rolling after the domain was heard failed");
                        }
                    });
                }
                Err(RecvError::Lagged(_)) => relist = true,
                Err(RecvError::Closed) => break,
            },
            () = engine.shutdown().cancelled() => break,
        }
    }
    watchers.values().for_each(|(_, t)| t.cancel());
}

/// Starts a watcher for `d` unless one runs for the same endpoint.
fn ensure(
    engine: &Engine,
    channels: &DomainChannels,
    watchers: &mut HashMap<String, (String, CancellationToken)>,
    d: DomainRecord,
) {
    if watchers.get(&d.id).is_some_and(|(ep, _)| *ep == d.endpoint) {
        return;
    }
    if let Some((_, old)) = watchers.remove(&d.id) {
        old.cancel();
    }
    let token = engine.shutdown().child_token();
    engine
        .registry()
        .stream_watching(&d.id, maestro_common::time::now_millis());
    watchers.insert(d.id.clone(), (d.endpoint.clone(), token.clone()));
    let (e, c) = (engine.clone(), channels.clone());
    engine
        .tasks()
        .spawn(async move { watch_domain(e, c, d, token).await });
}

#[tracing::instrument(skip_all, fields(domain = %domain.id))]
async fn watch_domain(
    engine: Engine,
    channels: DomainChannels,
    domain: DomainRecord,
    stop: CancellationToken,
) {
    let mut backoff = engine.config().backoff();
    while !stop.is_cancelled() {
        let followed = tokio::select! {
            r = follow(&engine, &channels, &domain, &mut backoff) => r,
            () = stop.cancelled() => return,
        };
        engine
            .registry()
            .stream_lost(&domain.id, maestro_common::time::now_millis());
        if let Err(e) = followed {
            tracing::debug!(error = %e, "intent status stream ended; reconnecting");
        }
        if backoff.wait(&stop).await {
            return;
        }
    }
}

async fn follow(
    engine: &Engine,
    channels: &DomainChannels,
    domain: &DomainRecord,
    backoff: &mut maestro_common::backoff::Backoff,
) -> Result<(), tonic::Status> {
    let ch = channels
        .channel(&domain.id)
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut client = IntentServiceClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let mut stream = client
        .watch_intent_status(pb::WatchIntentStatusRequest {})
        .await?
        .into_inner();
    engine
        .registry()
        .stream_opened(&domain.id, maestro_common::time::now_millis());
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
        if let Err(e) = engine.on_status(status).await {
            tracing::error!(error = %e, "recording intent status failed");
        }
    }
    Ok(())
}

async fn tick_liveness(engine: Engine) {
    // A quarter of the threshold, at most a second: flips show up soon after the threshold.
    // Reasons carry timestamps, not ages, so a tick without a flip changes no order.
    let every =
        Duration::from_millis((engine.config().domain_unreachable_after_ms / 4).clamp(100, 1_000));
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(e) = engine.reroll_open().await {
                    tracing::error!(error = %e, "liveness roll-up failed");
                }
            }
            () = engine.shutdown().cancelled() => return,
        }
    }
}
