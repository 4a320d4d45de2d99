//! Group commit: reconciles that wait for a running publish share the next commit.

use super::group_message;
use crate::context::Context;
use crate::git::{BlueprintRepo, GitError, Published};
use crate::hub::StatusHub;
use crate::intent::Intent;
use crate::reconcile::{ReconcileError, ReconcileReason, reconcile};
use crate::store::{IntentStore, RenderedIntent, SledStore, StoreError};
use maestro_proto::intent::v1 as pb;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DOMAIN: &str = "north";
/// Bound on every wait of these tests.
const GUARD: Duration = Duration::from_secs(10);

/// Records every publish; the first one waits until the test opens the gate.
struct GatedRepo {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    gate: Mutex<mpsc::Receiver<()>>,
    messages: Mutex<Vec<String>>,
}

impl BlueprintRepo for GatedRepo {
    fn publish(
        &self,
        _files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError> {
        let n = {
            let mut messages = self.messages.lock().expect("messages");
            messages.push(message.to_string());
            messages.len()
        };
        if n == 1 {
            let _ = self.started.send(());
            let gate = self.gate.lock().expect("gate");
            let _ = gate.recv_timeout(GUARD);
        }
        Ok(Published {
            commit: format!("commit-{n}"),
            changed: true,
        })
    }
}

/// An intent of `service` whose one blueprint is named `name`.
fn intent(service: &str, name: &str) -> Intent {
    let wire = pb::Intent {
        id: maestro_common::ids::intent_id(service, DOMAIN),
        generation: 1,
        service_name: service.into(),
        order_id: format!("order-{service}"),
        order_item_id: "1".into(),
        spec_id: "demo-app".into(),
        spec_version: "1.0".into(),
        sites: vec![],
        characteristics_json: String::new(),
        blueprint_templates_json: vec![
            json!({"kind": "ProcessDeployment", "metadata": {"name": name},
                   "spec": {"command": "/bin/true", "replicas": 1}})
            .to_string(),
        ],
        deleted: false,
        traceparent: String::new(),
        organisation: String::new(),
        rollout: None,
    };
    Intent::try_from(wire).expect("a valid intent")
}

struct Setup {
    ctx: Arc<Context>,
    store: Arc<SledStore>,
    repo: Arc<GatedRepo>,
    started: tokio::sync::mpsc::UnboundedReceiver<()>,
    open: mpsc::Sender<()>,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(SledStore::open(dir.path()).expect("a store"));
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let (open, gate) = mpsc::channel();
    let repo = Arc::new(GatedRepo {
        started: started_tx,
        gate: Mutex::new(gate),
        messages: Mutex::new(Vec::new()),
    });
    let ctx = Arc::new(Context::new(
        DOMAIN.into(),
        vec!["s1".into()],
        store.clone(),
        store.clone(),
        repo.clone(),
        Arc::new(StatusHub::default()),
    ));
    Setup {
        ctx,
        store,
        repo,
        started,
        open,
        _dir: dir,
    }
}

type Run = tokio::task::JoinHandle<Result<crate::reconcile::Action, ReconcileError>>;

fn start(ctx: &Arc<Context>, store: &SledStore, intent: Intent) -> Run {
    store.apply(&intent).expect("stored");
    tokio::spawn(reconcile(
        Arc::new(intent),
        ReconcileReason::Applied,
        ctx.clone(),
    ))
}

/// Starts `first` and waits until its publish runs, then starts `rest` and waits until all of
/// them are queued behind it; then lets the first publish end.
async fn first_then_queued(s: &mut Setup, first: Intent, rest: Vec<Intent>) -> (Run, Vec<Run>) {
    let first = start(&s.ctx, &s.store, first);
    tokio::time::timeout(GUARD, s.started.recv())
        .await
        .expect("the first publish started");
    let queued = rest.len();
    let runs: Vec<Run> = rest
        .into_iter()
        .map(|i| start(&s.ctx, &s.store, i))
        .collect();
    for _ in 0..100_000 {
        if s.ctx.queued_publishes() == queued {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(s.ctx.queued_publishes(), queued, "every run queued");
    s.open.send(()).expect("the gate");
    (first, runs)
}

async fn outcome(run: Run) -> Result<crate::reconcile::Action, ReconcileError> {
    tokio::time::timeout(GUARD, run)
        .await
        .expect("the run ended")
        .expect("the run did not panic")
}

#[tokio::test]
async fn runs_waiting_for_a_publish_share_the_next_commit() {
    let mut s = setup();
    let rest = vec![intent("b", "b"), intent("c", "c"), intent("d", "d")];
    let (first, runs) = first_then_queued(&mut s, intent("a", "a"), rest).await;
    outcome(first).await.expect("a published");
    for run in runs {
        outcome(run).await.expect("published");
    }
    let messages = s.repo.messages.lock().expect("messages").clone();
    assert_eq!(
        messages.len(),
        2,
        "one commit for a, one for b, c, d: {messages:?}"
    );
    assert!(messages[1].starts_with("maestro: b gen 1 (order order-b, intent "));
    assert!(messages[1].contains("maestro: c gen 1"));
    assert!(messages[1].contains("maestro: d gen 1"));
    assert!(messages[1].contains("3 intents in this commit"));
    let commit = |service: &str| {
        let id = maestro_common::ids::intent_id(service, DOMAIN);
        s.store.rendered(&id).expect("read").and_then(|r| r.commit)
    };
    assert_eq!(commit("a").as_deref(), Some("commit-1"));
    for service in ["b", "c", "d"] {
        assert_eq!(commit(service).as_deref(), Some("commit-2"), "{service}");
    }
}

#[tokio::test]
async fn a_conflict_in_a_group_fails_only_its_intent() {
    let mut s = setup();
    let rest = vec![
        intent("x", "shared"),
        intent("y", "shared"),
        intent("z", "z"),
    ];
    let (first, mut runs) = first_then_queued(&mut s, intent("a", "a"), rest).await;
    outcome(first).await.expect("a published");
    let z = runs.pop().expect("z");
    let y = runs.pop().expect("y");
    let x = runs.pop().expect("x");
    outcome(x)
        .await
        .expect("x, first in the queue, is published");
    match outcome(y).await {
        Err(ReconcileError::Conflict { other, .. }) => {
            assert_eq!(other, maestro_common::ids::intent_id("x", DOMAIN));
        }
        other => panic!("y conflicts with x: {other:?}"),
    }
    outcome(z).await.expect("z published");
    let messages = s.repo.messages.lock().expect("messages").clone();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[1].contains("2 intents in this commit"));
    assert!(!messages[1].contains("maestro: y gen"));
}

#[tokio::test]
async fn a_deletion_gets_a_commit_of_its_own() {
    let mut s = setup();
    // c is published first, then deleted while its publish runs, between b and d.
    let c = intent("c", "c");
    let mut deleted = c.clone();
    deleted.generation = 2;
    deleted.deleted = true;
    let rest = vec![intent("b", "b"), deleted, intent("d", "d")];
    let (first, runs) = first_then_queued(&mut s, c, rest).await;
    outcome(first).await.expect("c published");
    for run in runs {
        outcome(run).await.expect("published");
    }
    let messages = s.repo.messages.lock().expect("messages").clone();
    let firsts: Vec<&str> = messages
        .iter()
        .map(|m| m.lines().next().unwrap_or_default())
        .collect();
    assert_eq!(messages.len(), 4, "c; b; the deletion of c; d: {firsts:?}");
    assert!(firsts[2].starts_with("maestro: c gen 2"), "{firsts:?}");
}

/// The domain's store, counting how often every rendered intent is read; a write of a rendered
/// intent fails while `fail_puts` is set.
struct CountingStore {
    inner: Arc<SledStore>,
    reads_of_all: std::sync::atomic::AtomicUsize,
    fail_puts: std::sync::atomic::AtomicBool,
}

impl CountingStore {
    fn reads(&self) -> usize {
        self.reads_of_all.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl IntentStore for CountingStore {
    fn apply(&self, intent: &Intent) -> Result<crate::store::ApplyOutcome, StoreError> {
        self.inner.apply(intent)
    }
    fn delete(
        &self,
        deletion: &crate::intent::IntentDeletion,
    ) -> Result<Option<crate::store::ApplyOutcome>, StoreError> {
        self.inner.delete(deletion)
    }
    fn get(&self, id: &str) -> Result<Option<Intent>, StoreError> {
        self.inner.get(id)
    }
    fn list(&self, after: &str, limit: usize) -> Result<Vec<Intent>, StoreError> {
        self.inner.list(after, limit)
    }
    fn flush(&self) -> futures::future::BoxFuture<'_, Result<(), StoreError>> {
        self.inner.flush()
    }
    fn rendered(&self, id: &str) -> Result<Option<RenderedIntent>, StoreError> {
        self.inner.rendered(id)
    }
    fn put_rendered(&self, id: &str, rendered: &RenderedIntent) -> Result<(), StoreError> {
        if self.fail_puts.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Sled(sled::Error::Unsupported(
                "a failing disk".into(),
            )));
        }
        self.inner.put_rendered(id, rendered)
    }
    fn all_rendered(&self) -> Result<Vec<(String, RenderedIntent)>, StoreError> {
        self.reads_of_all
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.all_rendered()
    }
    fn record_commit(&self, commit: &str) -> Result<u64, StoreError> {
        self.inner.record_commit(commit)
    }
    fn commit_number(&self, commit: &str) -> Result<Option<u64>, StoreError> {
        self.inner.commit_number(commit)
    }
}

/// Keeps the tree of every publish.
#[derive(Default)]
struct TreeRepo {
    trees: Mutex<Vec<BTreeMap<String, String>>>,
}

impl BlueprintRepo for TreeRepo {
    fn publish(&self, files: &BTreeMap<String, String>, _: &str) -> Result<Published, GitError> {
        let mut trees = self.trees.lock().expect("trees");
        trees.push(files.clone());
        Ok(Published {
            commit: format!("commit-{}", trees.len()),
            changed: true,
        })
    }
}

async fn reconciled(
    ctx: &Arc<Context>,
    store: &CountingStore,
    intent: Intent,
) -> Result<(), ReconcileError> {
    store.apply(&intent).expect("stored");
    outcome(tokio::spawn(reconcile(
        Arc::new(intent),
        ReconcileReason::Applied,
        ctx.clone(),
    )))
    .await
    .map(|_| ())
}

#[tokio::test]
async fn publishes_keep_what_the_store_holds_and_read_it_again_after_a_failed_write() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let sled = Arc::new(SledStore::open(dir.path()).expect("a store"));
    let store = Arc::new(CountingStore {
        inner: sled.clone(),
        reads_of_all: Default::default(),
        fail_puts: Default::default(),
    });
    let repo = Arc::new(TreeRepo::default());
    let ctx = Arc::new(Context::new(
        DOMAIN.into(),
        vec!["s1".into()],
        store.clone(),
        sled.clone(),
        repo.clone(),
        Arc::new(StatusHub::default()),
    ));
    // The tree the store's rendered intents make, as a publish reading them all would build it.
    let stored_tree = || {
        let all = store.inner.all_rendered().expect("read");
        crate::reconcile::tree_of(all.iter().map(|(_, r)| r))
    };
    let last_tree = || repo.trees.lock().expect("trees").last().cloned();

    for service in ["a", "b", "c"] {
        reconciled(&ctx, &store, intent(service, service))
            .await
            .expect("published");
        assert_eq!(last_tree(), Some(stored_tree()), "after {service}");
    }
    assert_eq!(store.reads(), 1, "read once, at the first publish");
    assert!(
        stored_tree().keys().any(|p| p.contains("/a.json")) && stored_tree().len() > 3,
        "the blueprints are in the tree: {:?}",
        stored_tree().keys()
    );

    // What earlier publishes stored still counts for conflicts.
    match reconciled(&ctx, &store, intent("d", "a")).await {
        Err(ReconcileError::Conflict { other, .. }) => {
            assert_eq!(other, maestro_common::ids::intent_id("a", DOMAIN));
        }
        other => panic!("d conflicts with a: {other:?}"),
    }

    // A failed write: the next publish reads the store again, and what it publishes is the
    // store's state, without the intent that was not stored.
    store
        .fail_puts
        .store(true, std::sync::atomic::Ordering::SeqCst);
    reconciled(&ctx, &store, intent("e", "e"))
        .await
        .expect_err("e cannot be stored");
    store
        .fail_puts
        .store(false, std::sync::atomic::Ordering::SeqCst);
    reconciled(&ctx, &store, intent("f", "f"))
        .await
        .expect("published");
    assert_eq!(store.reads(), 2, "read again after the failed write");
    let tree = last_tree().expect("a tree");
    assert_eq!(tree, stored_tree());
    assert!(
        !tree.keys().any(|p| p.contains("/e.json")),
        "{:?}",
        tree.keys()
    );
    reconciled(&ctx, &store, intent("e", "e"))
        .await
        .expect("e published on retry");
    assert_eq!(last_tree(), Some(stored_tree()));
    assert_eq!(store.reads(), 2);
}

#[test]
fn one_intent_keeps_its_message_and_several_name_the_first_on_the_first_line() {
    let (a, b) = (intent("a", "a"), intent("b", "b"));
    assert_eq!(group_message(&[&a]), crate::reconcile::commit_message(&a));
    let m = group_message(&[&a, &b]);
    let first = m.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("maestro: a gen 1 (order order-a, intent "),
        "{m}"
    );
    assert!(m.contains("maestro: b gen 1 (order order-b"), "{m}");
    assert!(m.ends_with("2 intents in this commit\n"), "{m}");
}

/// Publishes at once; its compaction says it started, then waits until the test opens the gate
/// and says whether the gate (not the guard's end) let it go.
struct CompactingRepo {
    compacting: tokio::sync::mpsc::UnboundedSender<()>,
    gate: Mutex<mpsc::Receiver<()>>,
    released: tokio::sync::mpsc::UnboundedSender<bool>,
}

impl BlueprintRepo for CompactingRepo {
    fn publish(&self, _: &BTreeMap<String, String>, _: &str) -> Result<Published, GitError> {
        Ok(Published {
            commit: "commit-1".into(),
            changed: true,
        })
    }

    fn compact_if_needed(&self) {
        let _ = self.compacting.send(());
        let opened = self.gate.lock().expect("gate").recv_timeout(GUARD).is_ok();
        let _ = self.released.send(opened);
    }
}

#[tokio::test]
async fn a_publish_is_answered_before_the_compaction_that_follows_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(SledStore::open(dir.path()).expect("a store"));
    let (compacting_tx, mut compacting) = tokio::sync::mpsc::unbounded_channel();
    let (released_tx, mut released) = tokio::sync::mpsc::unbounded_channel();
    let (open, gate) = mpsc::channel();
    let repo = Arc::new(CompactingRepo {
        compacting: compacting_tx,
        gate: Mutex::new(gate),
        released: released_tx,
    });
    let ctx = Arc::new(Context::new(
        DOMAIN.into(),
        vec!["s1".into()],
        store.clone(),
        store.clone(),
        repo,
        Arc::new(StatusHub::default()),
    ));
    let run = start(&ctx, &store, intent("a", "a"));
    // The run ends while the compaction after its publish still waits for the gate.
    outcome(run).await.expect("a published");
    tokio::time::timeout(GUARD, compacting.recv())
        .await
        .expect("the compaction started");
    open.send(()).expect("the gate");
    let by_gate = tokio::time::timeout(GUARD, released.recv()).await;
    assert_eq!(by_gate.expect("the compaction ended"), Some(true));
}
