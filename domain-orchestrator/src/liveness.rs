//! The silence timer: silence produces no record, so every `threshold / 4` (bounded to
//! 100 ms..5 s) the status of every intent is recomputed and published only when a target site
//! became unreachable or reachable again.

use crate::context::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Intents read per store page.
const PAGE: usize = 500;

/// How often reachability is re-evaluated for a threshold of `after_ms`.
pub fn tick_interval(after_ms: u64) -> Duration {
    Duration::from_millis((after_ms / 4).clamp(100, 5_000))
}

/// Re-evaluates reachability until `shutdown`; does nothing when the threshold is 0.
pub async fn watch_sites(ctx: Arc<Context>, shutdown: CancellationToken) {
    let after = ctx.site_unreachable_after_ms();
    if after == 0 {
        return;
    }
    let mut interval = tokio::time::interval(tick_interval(after));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => evaluate(&ctx),
        }
    }
}

/// One pass over every stored intent.
fn evaluate(ctx: &Context) {
    let mut after = String::new();
    loop {
        let page = match ctx.store.list(&after, PAGE) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "listing intents for reachability failed");
                return;
            }
        };
        let Some(last) = page.last() else { return };
        after.clone_from(&last.id);
        for intent in &page {
            if ctx.refresh_reachability(intent) {
                tracing::info!(intent.id = %intent.id, "site reachability changed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interval_is_a_quarter_of_the_threshold_within_bounds() {
        assert_eq!(super::tick_interval(300).as_millis(), 100);
        assert_eq!(super::tick_interval(2_000).as_millis(), 500);
        assert_eq!(super::tick_interval(30_000).as_millis(), 5_000);
        assert_eq!(super::tick_interval(1_000_000).as_millis(), 5_000);
    }
}
