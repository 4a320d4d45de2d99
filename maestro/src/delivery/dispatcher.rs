//! The delivery loop: takes work from the channel, runs one task per outbox entry, and wakes
//! the entries of a domain that changed.

use super::{DeliveryOutcome, DeliveryReport, DeliveryWork, DomainClient};
use crate::delivery::DeliveryError;
use crate::intent::OutboxEntry;
use maestro_common::backoff::{Backoff, retry};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// Per domain, a token cancelled when the domain changes: waiting entries retry at once.
#[derive(Debug, Clone)]
struct DomainWakes {
    shutdown: CancellationToken,
    tokens: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl DomainWakes {
    /// The token the next change of `domain` cancels (also cancelled at shutdown).
    fn token(&self, domain: &str) -> CancellationToken {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .entry(domain.to_string())
            .or_insert_with(|| self.shutdown.child_token())
            .clone()
    }

    fn wake(&self, domain: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = tokens.remove(domain) {
            token.cancel();
        }
    }
}

/// Owns the running deliveries.
pub(super) struct Dispatcher {
    client: Arc<dyn DomainClient>,
    backoff: Backoff,
    shutdown: CancellationToken,
    reports: mpsc::Sender<DeliveryReport>,
    wakes: DomainWakes,
    running: JoinSet<()>,
    /// Outbox key of each running delivery.
    keys: HashMap<Id, String>,
    /// The keys of `keys`, to find a running entry at once.
    busy: HashSet<String>,
    /// Entries asked for again while being delivered, by key.
    again: HashMap<String, OutboxEntry>,
}

impl Dispatcher {
    pub(super) fn new(
        client: Arc<dyn DomainClient>,
        backoff: Backoff,
        shutdown: CancellationToken,
        reports: mpsc::Sender<DeliveryReport>,
    ) -> Self {
        Self {
            client,
            backoff,
            wakes: DomainWakes {
                shutdown: shutdown.clone(),
                tokens: Arc::default(),
            },
            shutdown,
            reports,
            running: JoinSet::new(),
            keys: HashMap::new(),
            busy: HashSet::new(),
            again: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, mut work: mpsc::Receiver<DeliveryWork>) {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                next = work.recv() => match next {
                    Some(DeliveryWork::Deliver(entry)) => self.deliver(*entry),
                    Some(DeliveryWork::DomainChanged(domain)) => self.wakes.wake(&domain),
                    None => break,
                },
                Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!(error = %e, "a delivery task failed");
                            e.id()
                        }
                    };
                    if let Some(key) = self.keys.remove(&id) {
                        self.busy.remove(&key);
                        if let Some(entry) = self.again.remove(&key) {
                            self.deliver(entry);
                        }
                    }
                }
            }
        }
        // Every delivery watches the shutdown token: they end promptly.
        while self.running.join_next().await.is_some() {}
    }

    fn deliver(&mut self, entry: OutboxEntry) {
        let key = entry.key();
        if self.busy.contains(&key) {
            self.again.insert(key, entry);
            return;
        }
        let task = deliver_entry(
            self.client.clone(),
            entry,
            self.backoff.clone(),
            self.wakes.clone(),
            self.shutdown.clone(),
            self.reports.clone(),
        );
        let handle = self.running.spawn(task);
        self.busy.insert(key.clone());
        self.keys.insert(handle.id(), key);
    }
}

/// Delivers one entry until the domain acknowledges or rejects it, reporting every attempt,
/// in a span of the order's trace.
async fn deliver_entry(
    client: Arc<dyn DomainClient>,
    entry: OutboxEntry,
    backoff: Backoff,
    wakes: DomainWakes,
    shutdown: CancellationToken,
    reports: mpsc::Sender<DeliveryReport>,
) {
    let span = tracing::info_span!("intent.deliver", order.id = %entry.order_id, intent.id = %entry.intent.id, domain = %entry.domain, generation = entry.intent.generation);
    maestro_common::telemetry::context::set_parent(&span, &entry.intent.traceparent);
    tracing::Instrument::instrument(
        deliver_entry_traced(client, entry, backoff, wakes, shutdown, reports),
        span,
    )
    .await;
}

async fn deliver_entry_traced(
    client: Arc<dyn DomainClient>,
    entry: OutboxEntry,
    mut backoff: Backoff,
    wakes: DomainWakes,
    shutdown: CancellationToken,
    reports: mpsc::Sender<DeliveryReport>,
) {
    let attempts = AtomicU32::new(0);
    let started = std::time::Instant::now();
    let (client, entry_ref, reports_ref, attempts_ref) = (&client, &entry, &reports, &attempts);
    let attempt = move || async move {
        let attempt = attempts_ref.fetch_add(1, Ordering::Relaxed) + 1;
        let domain = entry_ref.domain.as_str();
        match client.deliver(domain, &entry_ref.intent).await {
            Ok(()) => {
                crate::metrics::delivery_attempt(domain, "acknowledged");
                Ok(DeliveryOutcome::Acknowledged)
            }
            Err(DeliveryError::Rejected(reason)) => {
                crate::metrics::delivery_attempt(domain, "rejected");
                Ok(DeliveryOutcome::Rejected(reason))
            }
            Err(DeliveryError::Unavailable(error)) => {
                crate::metrics::delivery_attempt(domain, "failed");
                let report = DeliveryReport {
                    entry: entry_ref.clone(),
                    outcome: DeliveryOutcome::Failed {
                        attempt,
                        error: error.clone(),
                    },
                };
                let _ = reports_ref.send(report).await;
                Err(error)
            }
        }
    };
    let outcome = loop {
        // Taken before the attempt, so a change during the attempt is not missed.
        let wake = wakes.token(&entry.domain);
        match retry("intent delivery", &mut backoff, &wake, attempt).await {
            Some(outcome) => break outcome,
            None if shutdown.is_cancelled() => return,
            // The domain changed: retry now, from the shortest delay.
            None => backoff.reset(),
        }
    };
    tracing::info!(?outcome, "intent delivery finished");
    let how = match outcome {
        DeliveryOutcome::Rejected(_) => "rejected",
        _ => "acknowledged",
    };
    crate::metrics::delivery_finished(&entry.domain, how, started.elapsed().as_secs_f64());
    let _ = reports.send(DeliveryReport { entry, outcome }).await;
}
