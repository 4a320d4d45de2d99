//! Delivery in paused time against a scripted fake domain client: attempts and delays follow
//! the backoff, a final outcome ends delivery, a domain change retries at once.

use super::*;
use crate::fixtures::{FakeDomainClient, outbox_entry};
use std::time::Duration;
use tokio::time::Instant;

const MIN: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(10);

fn down() -> Result<(), DeliveryError> {
    Err(DeliveryError::Unavailable("connection refused".into()))
}

fn failed(attempt: u32) -> DeliveryOutcome {
    DeliveryOutcome::Failed {
        attempt,
        error: "connection refused".into(),
    }
}

struct Running {
    queue: DeliveryQueue,
    reports: mpsc::Receiver<DeliveryReport>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

fn run(client: &Arc<FakeDomainClient>, min: Duration) -> Running {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (queue, reports) = start(
        client.clone(),
        Backoff::new(min, MAX),
        shutdown.clone(),
        &tasks,
    );
    Running {
        queue,
        reports,
        shutdown,
        tasks,
    }
}

impl Running {
    async fn next(&mut self) -> DeliveryOutcome {
        self.reports.recv().await.expect("a report").outcome
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[tokio::test(start_paused = true)]
async fn failed_attempts_back_off_then_the_acknowledgement_ends_delivery() {
    let client = Arc::new(FakeDomainClient::answering([down(), down(), down()]));
    let mut d = run(&client, MIN);
    let entry = outbox_entry("o-1", "web", "north");
    d.queue.deliver(entry.clone()).await;
    for attempt in 1..=3 {
        let report = d.reports.recv().await.unwrap();
        assert_eq!(report.entry, entry);
        assert_eq!(report.outcome, failed(attempt));
        assert!(!report.is_final());
    }
    assert_eq!(d.next().await, DeliveryOutcome::Acknowledged);

    let calls = client.calls();
    assert_eq!(calls.len(), 4);
    assert!(
        calls
            .iter()
            .all(|c| c.domain == "north" && c.intent == entry.intent)
    );
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].at - w[0].at).collect();
    let mut backoff = Backoff::new(MIN, MAX);
    let expected: Vec<Duration> = (0..3).map(|_| backoff.next_delay()).collect();
    assert_eq!(gaps, expected, "one backoff delay between attempts");
    assert!(gaps[0] < gaps[1] && gaps[1] < gaps[2], "doubling: {gaps:?}");

    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(client.calls().len(), 4, "nothing after the acknowledgement");
    assert!(d.reports.try_recv().is_err());
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_rejection_is_final_and_never_retried() {
    let refused = Err(DeliveryError::Rejected("unknown kind".into()));
    let client = Arc::new(FakeDomainClient::answering([refused]));
    let mut d = run(&client, MIN);
    d.queue.deliver(outbox_entry("o-1", "web", "north")).await;
    assert_eq!(
        d.next().await,
        DeliveryOutcome::Rejected("unknown kind".into())
    );
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(client.calls().len(), 1);
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_of_its_domain_retries_at_once_and_other_domains_do_not() {
    let client = Arc::new(FakeDomainClient::unreachable("connection refused"));
    let min = Duration::from_secs(60);
    let mut d = run(&client, min);
    let start = Instant::now();
    d.queue.deliver(outbox_entry("o-1", "web", "north")).await;
    assert_eq!(d.next().await, failed(1));
    d.queue.domain_changed("south").await;
    assert_eq!(d.next().await, failed(2));
    let first_wait = Backoff::new(min, MAX).next_delay();
    assert_eq!(start.elapsed(), first_wait, "another domain woke nothing");
    d.queue.domain_changed("north").await;
    assert_eq!(d.next().await, failed(3));
    assert_eq!(start.elapsed(), first_wait, "retried at once");
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn one_delivery_per_entry_at_a_time_and_a_repeat_runs_after_it() {
    let client = Arc::new(FakeDomainClient::answering([down()]));
    let mut d = run(&client, MIN);
    let entry = outbox_entry("o-1", "web", "north");
    for _ in 0..3 {
        d.queue.deliver(entry.clone()).await;
    }
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(d.next().await);
    }
    assert_eq!(
        outcomes,
        [
            failed(1),
            DeliveryOutcome::Acknowledged,
            DeliveryOutcome::Acknowledged
        ],
        "the repeats merged into one delivery after the first"
    );
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(client.calls().len(), 3);
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_retrying() {
    let client = Arc::new(FakeDomainClient::unreachable("connection refused"));
    let mut d = run(&client, MIN);
    d.queue.deliver(outbox_entry("o-1", "web", "north")).await;
    assert_eq!(d.next().await, failed(1));
    d.stop().await;
    let calls = client.calls().len();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(client.calls().len(), calls);
}
