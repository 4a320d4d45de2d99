//! Group commit of the domain's publishes: reconciles that wait for the publish lock together
//! are published in one Git commit.
//!
//! A reconcile queues what it rendered ([`Pending`]) and takes the publish lock. Whoever holds
//! the lock takes every queued entry, checks each for conflicts and stores it in queue order (as
//! the runs one after the other would), then builds the tree once, commits and pushes once, and
//! answers every entry. An entry is answered only after the push that contains it returned, so
//! a run that ends well has its state on the remote branch; a failed push fails every entry it
//! carried (each is retried by its own run). Entries queued while a publish runs wait for the
//! next one.
//!
//! The lock holds the stored rendered intents as the publisher knows them ([`Published`]): read
//! from the store once, then kept up to date by each publish, since every write of a rendered
//! intent happens here. A publish costs what it changes, not one read and decode of every intent
//! the domain holds.

use super::{ReconcileError, commit_message, tree_of};
use crate::context::Context;
use crate::intent::Intent;
use crate::store::{IntentStore, RenderedIntent, StoreError};
use crate::translator::RenderedBlueprint;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most intents named one by one in the message of a grouped commit.
const NAMED_IN_MESSAGE: usize = 20;

/// What one reconcile asks to publish.
pub(crate) struct Pending {
    /// The intent.
    pub(crate) intent: Arc<Intent>,
    /// Its rendered state (without its commit).
    pub(crate) next: RenderedIntent,
    /// The commit of the stored state when `next` is the same state (kept rather than reset).
    pub(crate) kept_commit: Option<String>,
    /// Published in a commit of its own (it removes blueprints).
    pub(crate) alone: bool,
    /// A publish that changes nothing checks the remote's head (a run meant to repair drift:
    /// start-up, the periodic re-publish, a retry), rather than trusting the last known one.
    pub(crate) check_remote: bool,
    /// Where the outcome goes.
    done: oneshot::Sender<Result<(), ReconcileError>>,
}

/// Publishes `next`, the rendered state of `intent`, with whatever else waits for the publish
/// lock; `kept_commit` is the commit of its stored state when that state is unchanged;
/// `alone` asks for a commit of its own; `check_remote` that a publish changing nothing checks
/// the remote's head.
pub(crate) async fn publish(
    ctx: &Arc<Context>,
    intent: Arc<Intent>,
    next: RenderedIntent,
    kept_commit: Option<String>,
    alone: bool,
    check_remote: bool,
) -> Result<(), ReconcileError> {
    let (done, mut outcome) = oneshot::channel();
    ctx.queue_publish(Pending {
        intent,
        next,
        kept_commit,
        alone,
        check_remote,
        done,
    });
    let mut published = ctx.publish_lock.lock().await;
    // Served by the publish that ran while this one waited?
    match outcome.try_recv() {
        Ok(result) => return result,
        Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
        Err(oneshot::error::TryRecvError::Empty) => {}
    }
    run(ctx, &mut published, ctx.take_publishes()).await;
    outcome.try_recv().unwrap_or_else(|_| Err(abandoned()))
}

/// The error of an entry whose publish was stopped before it answered (shutdown).
fn abandoned() -> ReconcileError {
    ReconcileError::Grouped("the publish carrying this intent was stopped".into())
}

/// The stored rendered intents as the holder of the publish lock knows them: unknown until the
/// first publish reads them from the store, then changed by each publish exactly as it changes
/// the store. Forgotten after a failed write, so that the next publish reads the store again.
#[derive(Default)]
pub(crate) struct Published(Option<Known>);

/// Every stored rendered intent, and the paths each non-deleted one publishes.
struct Known {
    all: BTreeMap<String, RenderedIntent>,
    owners: Owners,
}

impl Published {
    /// The known state, read from `store` when it is not known.
    fn known(&mut self, store: &dyn IntentStore) -> Result<&mut Known, StoreError> {
        let known = match self.0.take() {
            Some(known) => known,
            None => {
                let all: BTreeMap<String, RenderedIntent> =
                    store.all_rendered()?.into_iter().collect();
                let mut owners = Owners::new();
                for (id, r) in &all {
                    own(&mut owners, id, r);
                }
                Known { all, owners }
            }
        };
        Ok(self.0.insert(known))
    }

    fn forget(&mut self) {
        self.0 = None;
    }
}

/// An entry stored for the grouped publish, waiting for its outcome.
type Accepted = (Arc<Intent>, oneshot::Sender<Result<(), ReconcileError>>);

/// Paths of the blueprints each non-deleted intent publishes: path -> intents.
type Owners = HashMap<String, Vec<String>>;

fn own(owners: &mut Owners, id: &str, r: &RenderedIntent) {
    if r.deleted {
        return;
    }
    for b in &r.blueprints {
        owners.entry(b.path()).or_default().push(id.to_string());
    }
}

fn disown(owners: &mut Owners, id: &str, r: &RenderedIntent) {
    for b in &r.blueprints {
        if let Some(ids) = owners.get_mut(&b.path()) {
            ids.retain(|o| o != id);
        }
    }
}

/// The first blueprint of `next` that another non-deleted intent already publishes.
fn conflict(owners: &Owners, id: &str, blueprints: &[RenderedBlueprint]) -> Option<ReconcileError> {
    blueprints.iter().find_map(|b| {
        let path = b.path();
        let other = owners.get(&path)?.iter().find(|o| *o != id)?.clone();
        Some(ReconcileError::Conflict { path, other })
    })
}

/// Publishes `batch` in queue order: runs of entries in one commit each, an entry that asks
/// for it in a commit of its own.
async fn run(ctx: &Arc<Context>, published: &mut Published, batch: Vec<Pending>) {
    let mut group = Vec::new();
    for p in batch {
        if p.alone {
            run_group(ctx, published, std::mem::take(&mut group)).await;
            run_group(ctx, published, vec![p]).await;
        } else {
            group.push(p);
        }
    }
    run_group(ctx, published, group).await;
}

/// Stores and publishes `batch` in one commit, answering every entry; keeps `published` as the
/// store is, or forgets it after a failed write.
async fn run_group(ctx: &Arc<Context>, published: &mut Published, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let mut write_failed = false;
    run_known(ctx, published, batch, &mut write_failed).await;
    if write_failed {
        published.forget();
    }
}

/// [`run_group`] over the known state; sets `write_failed` when a write of a rendered intent
/// failed (the known state may then differ from the store).
async fn run_known(
    ctx: &Arc<Context>,
    published: &mut Published,
    batch: Vec<Pending>,
    write_failed: &mut bool,
) {
    let check_remote = batch.iter().any(|p| p.check_remote);
    let Known { all, owners } = match published.known(ctx.store.as_ref()) {
        Ok(known) => known,
        Err(e) => return fail(batch, &e.to_string()),
    };
    let mut accepted: Vec<Accepted> = Vec::with_capacity(batch.len());
    for p in batch {
        let id = p.intent.id.clone();
        if !p.intent.deleted
            && let Some(e) = conflict(owners, &id, &p.next.blueprints)
        {
            let _ = p.done.send(Err(e));
            continue;
        }
        let mut next = p.next;
        next.commit = p.kept_commit;
        if let Err(e) = ctx.store.put_rendered(&id, &next) {
            *write_failed = true;
            let _ = p.done.send(Err(e.into()));
            continue;
        }
        if let Some(old) = all.get(&id) {
            disown(owners, &id, old);
        }
        own(owners, &id, &next);
        all.insert(id, next);
        accepted.push((p.intent, p.done));
    }
    if accepted.is_empty() {
        return;
    }
    let files = tree_of(all.values());
    let intents: Vec<&Intent> = accepted.iter().map(|(i, _)| i.as_ref()).collect();
    let message = group_message(&intents);
    let repo = ctx.repo.clone();
    let started = std::time::Instant::now();
    let pushed = tokio::task::spawn_blocking(move || {
        if check_remote {
            repo.publish(&files, &message)
        } else {
            repo.publish_new(&files, &message)
        }
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let pushed = match pushed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            crate::metrics::published(None, seconds);
            return fail_accepted(accepted, &e.to_string());
        }
        Err(e) => return fail_accepted(accepted, &e.to_string()),
    };
    crate::metrics::published(Some(pushed.changed), seconds);
    // Sites report the commit they applied; its number tells whether it holds this publish.
    if let Err(e) = ctx.store.record_commit(&pushed.commit) {
        return fail_accepted(accepted, &e.to_string());
    }
    for (intent, done) in accepted {
        let Some(next) = all.get_mut(&intent.id) else {
            continue;
        };
        let result = if pushed.changed || next.commit.is_none() {
            next.commit = Some(pushed.commit.clone());
            let put = ctx.store.put_rendered(&intent.id, next);
            *write_failed |= put.is_err();
            put.map_err(Into::into)
        } else {
            Ok(())
        };
        tracing::debug!(intent.id = %intent.id, generation = intent.generation, changed = pushed.changed, "published");
        let _ = done.send(result);
    }
    // Answered, and the publish lock is let go without waiting: the compaction takes the
    // repository's own lock, which a publish queued meanwhile waits for.
    if pushed.changed {
        tokio::spawn(crate::git::compact_after_publish(ctx.repo.clone()));
    }
}

fn fail(batch: Vec<Pending>, error: &str) {
    for p in batch {
        let _ = p.done.send(Err(ReconcileError::Grouped(error.to_string())));
    }
}

fn fail_accepted(accepted: Vec<Accepted>, error: &str) {
    for (_, done) in accepted {
        let _ = done.send(Err(ReconcileError::Grouped(error.to_string())));
    }
}

/// The commit message: one intent's [`commit_message`]; for several, the first line of the
/// first one's (what sites read), then the first lines of the others (up to
/// [`NAMED_IN_MESSAGE`] in all) and how many intents the commit holds.
pub(super) fn group_message(intents: &[&Intent]) -> String {
    let first_line = |i: &Intent| {
        let m = commit_message(i);
        m.lines().next().unwrap_or_default().to_string()
    };
    match intents {
        [] => String::new(),
        [one] => commit_message(one),
        [first, rest @ ..] => {
            let mut m = format!("{}\n\n", first_line(first));
            for intent in rest.iter().take(NAMED_IN_MESSAGE - 1) {
                m.push_str(&first_line(intent));
                m.push('\n');
            }
            m.push_str(&format!("\n{} intents in this commit\n", intents.len()));
            m
        }
    }
}

#[cfg(test)]
mod tests;
