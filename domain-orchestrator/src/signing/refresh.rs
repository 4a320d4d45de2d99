//! The periodic re-signing: while the domain is up its branch's manifest never expires. Every
//! check re-publishes the stored desired tree; the publisher commits only when the manifest on
//! the branch is due for renewal (or the tree or key set changed), with a new version.

use crate::context::Context;
use crate::reconcile::stored_tree;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Message of a commit that only renews the manifest.
pub const RESIGN_MESSAGE: &str = "maestro: renew the signed manifest\n";

/// How often the branch's manifest is checked, for a renewal window of `renew_before_secs`.
pub fn check_interval(renew_before_secs: u64) -> Duration {
    Duration::from_millis(renew_before_secs.saturating_mul(1000) / 4)
        .clamp(Duration::from_millis(200), Duration::from_secs(60))
}

/// Checks the manifest every `every` until `shutdown`.
pub async fn refresh_manifests(ctx: Arc<Context>, every: Duration, shutdown: CancellationToken) {
    loop {
        if maestro_common::backoff::pause(every, &shutdown).await {
            return;
        }
        if let Err(e) = refresh_once(&ctx).await {
            tracing::warn!(domain = %ctx.domain, error = %e, "renewing the signed manifest failed; retrying");
        }
    }
}

/// One check: re-publishes the stored tree (nothing when no intent was ever rendered).
pub async fn refresh_once(ctx: &Context) -> Result<(), crate::reconcile::ReconcileError> {
    let _publishing = ctx.publish_lock.lock().await;
    let rendered = ctx.store.all_rendered()?;
    if rendered.is_empty() {
        return Ok(());
    }
    let files = stored_tree(&rendered);
    let repo = ctx.repo.clone();
    let published =
        tokio::task::spawn_blocking(move || repo.publish(&files, RESIGN_MESSAGE)).await??;
    if published.changed {
        ctx.store.record_commit(&published.commit)?;
        tracing::info!(domain = %ctx.domain, commit = %published.commit, "renewed the signed manifest");
        crate::git::compact_after_publish(ctx.repo.clone()).await;
    }
    Ok(())
}
