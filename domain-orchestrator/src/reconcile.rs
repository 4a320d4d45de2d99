//! The intent reconciler in the kube-runtime shape: `reconcile(intent, ctx) -> Action`, with
//! an [`error_policy`] that turns every failure into a backed-off retry.

mod group;

pub(crate) use group::{Pending, Published};

use crate::context::Context;
use crate::git::GitError;
use crate::intent::Intent;
use crate::store::{RenderedIntent, StoreError};
use crate::translator;
use maestro_common::FieldError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How often a healthy intent is re-published (repairs drift of the remote branch).
pub const RESYNC: Duration = Duration::from_secs(300);

/// What to do after a run: data, not control flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run again after the delay.
    Requeue(Duration),
    /// Run again only when something changes.
    AwaitChange,
}

/// Why a run happened (goes on the span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileReason {
    /// The orchestrator started; every stored intent is resumed.
    Startup,
    /// A new generation was applied or deleted.
    Applied,
    /// A requeue from a previous run.
    Requeue,
    /// A retry after a failure.
    ErrorRetry,
}

impl ReconcileReason {
    /// Whether the run must publish to Git even when the rendered state looks unchanged.
    pub fn forces_publish(self) -> bool {
        matches!(self, Self::Startup | Self::Requeue | Self::ErrorRetry)
    }

    /// The stronger of two pending reasons.
    pub fn merge(self, other: Self) -> Self {
        if other.forces_publish() { other } else { self }
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A template did not render.
    #[error("rendering failed: {0}")]
    Render(#[from] FieldError),
    /// Another intent already publishes a file this one renders.
    #[error("blueprint {path} is already published by intent {other}")]
    Conflict {
        /// The contested path.
        path: String,
        /// The intent that owns it.
        other: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Git failed.
    #[error("{0}")]
    Git(#[from] GitError),
    /// The blocking Git task died.
    #[error("git task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The publish this intent was grouped in (one commit for several intents) failed: the
    /// message of its error (the store, Git, the blocking task, or a shutdown).
    #[error("{0}")]
    Grouped(String),
}

impl ReconcileError {
    /// True when retrying cannot help until the intent (or another intent) changes: a template
    /// that does not render or a path another intent owns. Such an intent is `INACTIVE`.
    /// Everything else (Git, the store, a crashed task) is transient: the intent stays in
    /// progress, its status message says it is retrying, and maestro never fails an item for it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Render(_) | Self::Conflict { .. })
    }
}

/// Brings Git in line with one intent: render, check conflicts, publish the whole tree.
pub async fn reconcile(
    intent: Arc<Intent>,
    reason: ReconcileReason,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let previous = ctx.store.rendered(&intent.id)?;
    let blueprints = if intent.deleted {
        previous
            .as_ref()
            .map(|p| p.blueprints.clone())
            .unwrap_or_default()
    } else {
        translator::render_intent(&intent, &ctx.domain, &intent.target_sites(&ctx.sites))?
    };
    let next = RenderedIntent {
        generation: intent.generation,
        step: intent.step(),
        deleted: intent.deleted,
        blueprints,
        commit: None,
    };
    let unchanged = previous
        .as_ref()
        .is_some_and(|p| p.same_state(&next) && p.commit.is_some());
    if unchanged && !reason.forces_publish() {
        return Ok(Action::Requeue(RESYNC));
    }
    if !unchanged {
        let now = maestro_common::time::now_millis();
        if let Some(opens_at) = crate::windows::closed_until(&ctx.policy.maintenance_windows, now) {
            ctx.set_held(&intent.id, Some(opens_at));
            let wait = opens_at.map_or(RESYNC, |t| {
                Duration::from_millis(u64::try_from(t - now).unwrap_or(0))
                    .max(Duration::from_secs(1))
            });
            tracing::info!(intent.id = %intent.id, generation = intent.generation, opens_at = ?opens_at.map(maestro_common::time::rfc3339), "held for the maintenance window");
            return Ok(Action::Requeue(wait.min(RESYNC)));
        }
    }
    ctx.set_held(&intent.id, None);
    let kept_commit = if unchanged {
        previous.as_ref().and_then(|p| p.commit.clone())
    } else {
        None
    };
    let alone = removes_blueprints(&intent, previous.as_ref(), &next);
    let check_remote = reason.forces_publish();
    group::publish(&ctx, intent, next, kept_commit, alone, check_remote).await?;
    Ok(Action::Requeue(RESYNC))
}

/// Turns a failure into a retry with per-intent backoff.
pub fn error_policy(intent: &Intent, error: &ReconcileError, ctx: &Context) -> Action {
    let delay = ctx.next_backoff(&intent.id);
    tracing::warn!(intent.id = %intent.id, generation = intent.generation, error = %error, retry_ms = delay.as_millis() as u64, "reconcile failed");
    Action::Requeue(delay)
}

/// Whether publishing `next` removes a blueprint of `previous` (a deletion, or sites that
/// are no longer targeted). Sites attribute a removal to the intent named on the first line
/// of the commit that made it, so such a publish gets a commit of its own.
fn removes_blueprints(
    intent: &Intent,
    previous: Option<&RenderedIntent>,
    next: &RenderedIntent,
) -> bool {
    if intent.deleted {
        return true;
    }
    let Some(previous) = previous else {
        return false;
    };
    let kept: std::collections::HashSet<String> = next
        .blueprints
        .iter()
        .map(translator::RenderedBlueprint::path)
        .collect();
    previous
        .blueprints
        .iter()
        .any(|b| !previous.deleted && !kept.contains(&b.path()))
}

/// The whole desired tree: the definitions and every non-deleted intent's blueprints
/// (`next` standing in for the stored state of `id`).
pub fn desired_tree(
    id: &str,
    next: &RenderedIntent,
    others: &[(String, RenderedIntent)],
) -> BTreeMap<String, String> {
    let all = others
        .iter()
        .filter(|(o, _)| o != id)
        .map(|(_, r)| r)
        .chain(std::iter::once(next));
    tree_of(all)
}

/// The whole desired tree as the store holds it (what the manifest renewal re-publishes).
pub fn stored_tree(all: &[(String, RenderedIntent)]) -> BTreeMap<String, String> {
    tree_of(all.iter().map(|(_, r)| r))
}

fn tree_of<'a>(all: impl Iterator<Item = &'a RenderedIntent>) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = translator::definitions().into_iter().collect();
    for r in all.filter(|r| !r.deleted) {
        for b in &r.blueprints {
            files.entry(b.path()).or_insert_with(|| b.content.clone());
        }
    }
    files
}

/// `maestro: <service> gen <g>[ step <s>] (order <o>, intent <i>)` plus a `Trace-Id:` trailer
/// (the step only during a rollout).
pub fn commit_message(intent: &Intent) -> String {
    let step = match &intent.rollout {
        Some(r) => format!(" step {}", r.step),
        None => String::new(),
    };
    let mut m = format!(
        "maestro: {} gen {}{step} (order {}, intent {})\n",
        intent.service_name, intent.generation, intent.order_id, intent.id
    );
    if let Some(trace) = trace_id(&intent.traceparent) {
        m.push_str(&format!("\nTrace-Id: {trace}\n"));
    }
    m
}

/// The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`).
fn trace_id(traceparent: &str) -> Option<&str> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}
