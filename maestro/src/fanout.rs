//! Fan-out: one task per outbox entry delivers its intent to the domain (ApplyIntent, or
//! DeleteIntent for a delete), retrying with backoff until the domain acknowledges it.
//! InvalidArgument / FailedPrecondition from the domain are permanent (delivery rejected).
//! The outbox entry is removed, durably, in the transaction that records the outcome.

use crate::engine::Engine;
use crate::intent::OutboxEntry;
use crate::model::{Delivery, Order};
use crate::registry::DomainEvent;
use maestro_common::grpc::{MAX_MESSAGE_BYTES, channel};
use maestro_proto::intent::v1 as pb;
use pb::intent_service_client::IntentServiceClient;
use std::time::Duration;
use tonic::Code;

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    Permanent(String),
    Transient(String),
}

/// Starts delivering `entry` unless a task already does.
pub fn spawn(engine: &Engine, entry: OutboxEntry) {
    let key = entry.key();
    if !engine.claim_delivery(&key) {
        return;
    }
    let engine2 = engine.clone();
    engine.tasks().spawn(async move {
        deliver(&engine2, &entry).await;
        engine2.release_delivery(&key);
    });
}

/// Starts a task for every entry left in the outbox (after a restart).
pub fn resume(engine: &Engine) -> Result<usize, crate::error::StoreError> {
    let entries = engine.store().outbox()?;
    let n = entries.len();
    for e in entries {
        spawn(engine, e);
    }
    Ok(n)
}

#[tracing::instrument(skip_all, fields(order.id = %entry.order_id, intent.id = %entry.intent.id, domain = %entry.domain, generation = entry.intent.generation))]
async fn deliver(engine: &Engine, entry: &OutboxEntry) {
    let mut backoff = engine.config().backoff();
    let mut events = engine.registry().subscribe();
    let key = entry.key();
    loop {
        if engine.shutdown().is_cancelled() {
            return;
        }
        let outcome = tokio::select! {
            r = attempt(engine, entry) => r,
            () = engine.shutdown().cancelled() => return,
        };
        let (delivery, message, done) = match outcome {
            Ok(()) => (Delivery::Acknowledged, String::new(), true),
            Err(Failure::Permanent(m)) => (Delivery::Rejected, m, true),
            Err(Failure::Transient(m)) => (Delivery::Pending, m, false),
        };
        if done {
            tracing::info!(?delivery, %message, "intent delivery finished");
        } else {
            tracing::debug!(error = %message, "intent delivery failed; retrying");
        }
        let mark = |o: &mut Order| record(o, entry, delivery, &message);
        let stored = engine
            .reroll(&entry.order_id, done.then_some(key.as_str()), mark)
            .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "recording delivery failed; retrying");
        } else if done {
            return;
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = wake_on_domain(&mut events, &entry.domain) => backoff.reset(),
            () = engine.shutdown().cancelled() => return,
        }
    }
}

/// Records the outcome of one attempt on the item's progress for the entry's domain.
fn record(order: &mut Order, entry: &OutboxEntry, delivery: Delivery, message: &str) {
    let Some(item) = order.items.iter_mut().find(|i| i.id == entry.item_id) else {
        return;
    };
    let Some(dp) = item.domains.iter_mut().find(|d| d.domain == entry.domain) else {
        return;
    };
    if dp.delivery != Delivery::Pending {
        return;
    }
    dp.delivery = delivery;
    dp.delivery_attempts = dp.delivery_attempts.saturating_add(1);
    dp.message = message.to_string();
}

/// Resolves when `domain` registers again or comes back online.
async fn wake_on_domain(events: &mut tokio::sync::broadcast::Receiver<DomainEvent>, domain: &str) {
    loop {
        match events.recv().await {
            Ok(DomainEvent::Registered(r)) if r.id == domain => return,
            Ok(DomainEvent::BackOnline(id)) if id == domain => return,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                std::future::pending::<()>().await
            }
        }
    }
}

async fn attempt(engine: &Engine, entry: &OutboxEntry) -> Result<(), Failure> {
    let domain = engine
        .registry()
        .get(&entry.domain)
        .map_err(|e| Failure::Transient(e.to_string()))?
        .ok_or_else(|| Failure::Transient(format!("domain {} is not registered", entry.domain)))?;
    let ch = channel(&domain.endpoint).map_err(|e| Failure::Transient(e.to_string()))?;
    let mut client = IntentServiceClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let i = &entry.intent;
    let result = if i.deleted {
        let mut req = tonic::Request::new(pb::DeleteIntentRequest {
            id: i.id.clone(),
            generation: i.generation,
            order_id: i.order_id.clone(),
            order_item_id: i.order_item_id.clone(),
        });
        req.set_timeout(ATTEMPT_TIMEOUT);
        match client.delete_intent(req).await {
            // The domain does not know the intent (it lost its data, or never stored the add):
            // deliver the deletion as a whole intent marked deleted, so the domain records the
            // tombstone and reports TERMINATED once nothing of the service is left.
            Err(s) if s.code() == Code::NotFound => {
                let mut req = tonic::Request::new(pb::ApplyIntentRequest {
                    intent: Some(i.into()),
                });
                req.set_timeout(ATTEMPT_TIMEOUT);
                client.apply_intent(req).await
            }
            other => other,
        }
    } else {
        let mut req = tonic::Request::new(pb::ApplyIntentRequest {
            intent: Some(i.into()),
        });
        req.set_timeout(ATTEMPT_TIMEOUT);
        client.apply_intent(req).await
    };
    match result {
        Ok(_) => Ok(()),
        Err(s) if matches!(s.code(), Code::InvalidArgument | Code::FailedPrecondition) => {
            Err(Failure::Permanent(s.message().to_string()))
        }
        Err(s) => Err(Failure::Transient(format!(
            "{:?}: {}",
            s.code(),
            s.message()
        ))),
    }
}
