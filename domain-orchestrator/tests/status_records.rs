//! A status record updates intent status without reconciling: no template is rendered and
//! nothing is published to Git; only intent changes (and requeues, retries) reconcile. The
//! proof: status keeps flowing while no reconciler runs at all.
//! In-process: a counting [`BlueprintRepo`], a channel-fed [`StatusSource`], sled in a tempdir.

mod common;

use common::{DOMAIN, GUARD, intent, status_record};
use domain_orchestrator::context::Context;
use domain_orchestrator::controller::Controller;
use domain_orchestrator::git::{BlueprintRepo, GitError, Published};
use domain_orchestrator::hub::StatusHub;
use domain_orchestrator::intent::Intent;
use domain_orchestrator::reconcile::ReconcileReason;
use domain_orchestrator::source::StatusSource;
use domain_orchestrator::store::{IntentStore, SledStore};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use maestro_proto::intent::v1 as pb;
use maestro_proto::logs::v1::Record;
use maestro_testkit::within;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Counts publishes; every publish makes a new commit.
#[derive(Default)]
struct CountingRepo {
    publishes: AtomicU64,
}

impl BlueprintRepo for CountingRepo {
    fn publish(
        &self,
        _files: &BTreeMap<String, String>,
        _message: &str,
    ) -> Result<Published, GitError> {
        let n = self.publishes.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Published {
            commit: format!("commit-{n}"),
            changed: true,
        })
    }
}

/// Hands out the records sent on a channel (one subscription).
struct ChannelSource {
    records: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Record>>>,
}

impl StatusSource for ChannelSource {
    fn subscribe(
        &self,
        _after: u64,
        _follow: bool,
        _intent_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<Record, tonic::Status>>, tonic::Status>>
    {
        let rx = self.records.lock().unwrap().take();
        Box::pin(async move {
            let rx = rx.ok_or_else(|| tonic::Status::unavailable("subscribed once already"))?;
            Ok(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
                .map(Ok)
                .boxed())
        })
    }
}

#[tokio::test]
async fn a_status_record_updates_status_without_rendering_or_publishing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let repo = Arc::new(CountingRepo::default());
    let hub = Arc::new(StatusHub::default());
    let ctx = Arc::new(Context::new(
        DOMAIN.into(),
        vec!["s1".into()],
        store.clone(),
        store.clone(),
        repo.clone(),
        hub.clone(),
    ));
    let shutdown = CancellationToken::new();
    let stop_controller = CancellationToken::new();
    let (controller, controller_task) = Controller::start(ctx.clone(), stop_controller.clone());
    let mut reconciled = ctx.reconciled();

    // An intent change reconciles: one render, one publish.
    let mut wire = intent("web", 1, 2);
    wire.sites = vec!["s1".into()];
    let i = Intent::try_from(wire).unwrap();
    store.apply(&i).unwrap();
    controller.trigger(&i.id, ReconcileReason::Applied);
    within(
        "the first reconcile run",
        GUARD,
        reconciled.wait_for(|n| *n >= 1),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(repo.publishes.load(Ordering::SeqCst), 1);
    let before = hub.get(&i.id).expect("status after the run");
    assert_eq!(before.state, pb::ServiceState::Reserved as i32);

    // No reconciler from here on: whatever status arrives did not come through a reconcile.
    stop_controller.cancel();
    within("the controller to stop", GUARD, controller_task)
        .await
        .unwrap()
        .unwrap();

    // A status record: the status turns active, with no reconcile run and no publish.
    let mut changes = hub.subscribe();
    let (tx, rx) = mpsc::unbounded_channel();
    let source = Arc::new(ChannelSource {
        records: std::sync::Mutex::new(Some(rx)),
    });
    let follower = tokio::spawn(domain_orchestrator::follower::follow(
        ctx.clone(),
        source,
        shutdown.clone(),
    ));
    let mut record = status_record("s1", "web", &i.id, 1, true);
    record.sequence = 1;
    tx.send(record).unwrap();
    let active = within("the intent to turn active", GUARD, async {
        loop {
            let s = changes.recv().await.unwrap();
            if s.intent_id == i.id && s.state == pb::ServiceState::Active as i32 {
                return s;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!((active.ready, active.total), (1, 1));
    assert_eq!(active.commit, "commit-1");
    assert_eq!(
        *reconciled.borrow(),
        1,
        "no reconcile run for a status record"
    );
    assert_eq!(
        repo.publishes.load(Ordering::SeqCst),
        1,
        "nothing published for a status record"
    );

    // A second record (not converged) flips it back, still without a run.
    let mut record = status_record("s1", "web", &i.id, 1, false);
    record.sequence = 2;
    tx.send(record).unwrap();
    within("the intent to turn reserved", GUARD, async {
        loop {
            let s = changes.recv().await.unwrap();
            if s.intent_id == i.id && s.state == pb::ServiceState::Reserved as i32 {
                return;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(*reconciled.borrow(), 1);
    assert_eq!(repo.publishes.load(Ordering::SeqCst), 1);

    // An intent change still reconciles and publishes.
    let (controller, controller_task) = Controller::start(ctx.clone(), shutdown.clone());
    let mut wire = intent("web", 2, 3);
    wire.sites = vec!["s1".into()];
    store.apply(&Intent::try_from(wire).unwrap()).unwrap();
    controller.trigger(&i.id, ReconcileReason::Applied);
    within(
        "the second reconcile run",
        GUARD,
        reconciled.wait_for(|n| *n >= 2),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(repo.publishes.load(Ordering::SeqCst), 2);

    shutdown.cancel();
    within("the controller and the follower to stop", GUARD, async {
        controller_task.await.unwrap();
        follower.await.unwrap();
    })
    .await
    .unwrap();
}
