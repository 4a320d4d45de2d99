//! The silence timer: silence produces no record, so every `threshold / 4` (bounded to
//! 100 ms..5 s) the timer looks whether a site's reachability can have changed, and if so the
//! status of every intent is recomputed and published only when a target site became
//! unreachable or reachable again.
//!
//! A site is unreachable for an intent when both the site has been silent longer than the
//! threshold (or never heard) and the intent's grace period (the threshold from when this
//! process first held it) is over. Between two looks nothing can have changed when no site's
//! silence changed and no grace period ended while a site was silent: then no intent is read,
//! so an idle domain costs one read per site per look, not one status per intent. Every
//! [`FULL_PASS_EVERY`] the intents are read anyway, as a safety net for anything the looks
//! cannot see.

use crate::context::Context;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Intents read per store page.
const PAGE: usize = 500;

/// The longest time between two passes over every intent (millis).
pub(crate) const FULL_PASS_EVERY: i64 = 60_000;

/// What the last look saw: when it looked, which sites were silent (`None`: unknown, a read
/// failed), and when the next pass over every intent is due at the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Look {
    /// When (millis).
    pub(crate) at: i64,
    /// Each site: silent longer than the threshold, or never heard.
    pub(crate) silent: Option<BTreeMap<String, bool>>,
    /// When the next pass over every intent is due at the latest (millis).
    pub(crate) full_due: i64,
    /// Whether this look read every intent.
    pub(crate) passed: bool,
}

/// Whether the intents must be read at `now`: at the first look, when the sites' silence is
/// unknown or differs from the last look's, when a grace period ended since then
/// (`grace_ended`), or when a full pass is due.
pub(crate) fn must_pass(
    last: Option<&Look>,
    now: i64,
    silent: Option<&BTreeMap<String, bool>>,
    grace_ended: bool,
) -> bool {
    let Some(last) = last else { return true };
    let (Some(before), Some(now_silent)) = (last.silent.as_ref(), silent) else {
        return true;
    };
    grace_ended || now >= last.full_due || before != now_silent
}

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
    let mut last: Option<Look> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => last = Some(look(&ctx, last.as_ref())),
        }
    }
}

/// One look: reads the sites' silence, and every intent when something can have changed.
pub(crate) fn look(ctx: &Context, last: Option<&Look>) -> Look {
    let now = maestro_common::time::now_millis();
    let silent = ctx.site_silence(now);
    // A grace period that ends changes nothing while no site is silent (or none is known).
    let some_silent = silent
        .as_ref()
        .is_none_or(|s| s.values().any(|silent| *silent));
    let grace_ended = some_silent && last.is_some_and(|l| ctx.grace_ends_within(l.at, now));
    if must_pass(last, now, silent.as_ref(), grace_ended) {
        evaluate(ctx);
        return Look {
            at: now,
            silent,
            full_due: now.saturating_add(FULL_PASS_EVERY),
            passed: true,
        };
    }
    Look {
        at: now,
        silent,
        full_due: last.map_or(now, |l| l.full_due),
        passed: false,
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
    use super::{FULL_PASS_EVERY, Look, must_pass};
    use std::collections::BTreeMap;

    fn silence(sites: &[(&str, bool)]) -> BTreeMap<String, bool> {
        sites.iter().map(|(s, q)| (s.to_string(), *q)).collect()
    }

    #[test]
    fn the_intents_are_read_only_when_something_can_have_changed() {
        let quiet = silence(&[("s1", false), ("s2", true)]);
        let last = Look {
            at: 1_000,
            silent: Some(quiet.clone()),
            full_due: 1_000 + FULL_PASS_EVERY,
            passed: true,
        };
        assert!(
            must_pass(None, 1_000, Some(&quiet), false),
            "the first look"
        );
        assert!(
            !must_pass(Some(&last), 6_000, Some(&quiet), false),
            "nothing changed"
        );
        let s1_silent = silence(&[("s1", true), ("s2", true)]);
        assert!(
            must_pass(Some(&last), 6_000, Some(&s1_silent), false),
            "s1 fell silent"
        );
        let s2_heard = silence(&[("s1", false), ("s2", false)]);
        assert!(
            must_pass(Some(&last), 6_000, Some(&s2_heard), false),
            "s2 heard again"
        );
        let s3_added = silence(&[("s1", false), ("s2", true), ("s3", true)]);
        assert!(
            must_pass(Some(&last), 6_000, Some(&s3_added), false),
            "another site"
        );
        assert!(
            must_pass(Some(&last), 6_000, Some(&quiet), true),
            "a grace period ended"
        );
        assert!(
            must_pass(Some(&last), 6_000, None, false),
            "a site could not be read"
        );
        let unknown = Look {
            silent: None,
            ..last.clone()
        };
        assert!(
            must_pass(Some(&unknown), 6_000, Some(&quiet), false),
            "unknown before"
        );
        assert!(
            must_pass(Some(&last), 1_000 + FULL_PASS_EVERY, Some(&quiet), false),
            "the full pass is due"
        );
    }

    /// Against a real context and store: a look reads the intents when a site's silence
    /// changed, not when nothing did.
    #[tokio::test]
    async fn a_look_reads_the_intents_when_a_site_is_heard_again_and_not_before() {
        use crate::context::Context;
        use crate::store::{IntentStore, ObservedStore, SledStore};
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Arc::new(SledStore::open(dir.path()).expect("a store"));
        let repo = Arc::new(crate::git::NoRepo);
        let ctx = Context::new(
            "north".into(),
            vec!["s1".into()],
            store.clone(),
            store.clone(),
            repo,
            Arc::new(crate::hub::StatusHub::default()),
        )
        .with_site_unreachable_after_ms(3_600_000);
        let intent = crate::intent::Intent::try_from(maestro_proto::intent::v1::Intent {
            id: maestro_common::ids::intent_id("web", "north"),
            generation: 1,
            service_name: "web".into(),
            order_id: "order-web".into(),
            order_item_id: "1".into(),
            spec_id: "demo-app".into(),
            spec_version: "1.0".into(),
            ..Default::default()
        })
        .expect("a valid intent");
        store.apply(&intent).expect("stored");

        let first = super::look(&ctx, None);
        assert!(first.passed, "the first look reads every intent");
        assert!(
            ctx.hub.get(&intent.id).is_some(),
            "the intent's status is known"
        );
        let second = super::look(&ctx, Some(&first));
        assert!(!second.passed, "nothing changed: {second:?}");
        store
            .heard("s1", maestro_common::time::now_millis())
            .expect("heard");
        let third = super::look(&ctx, Some(&second));
        assert!(third.passed, "s1 was heard: {third:?}");
        let fourth = super::look(&ctx, Some(&third));
        assert!(!fourth.passed, "nothing changed since: {fourth:?}");
    }

    #[test]
    fn interval_is_a_quarter_of_the_threshold_within_bounds() {
        assert_eq!(super::tick_interval(300).as_millis(), 100);
        assert_eq!(super::tick_interval(2_000).as_millis(), 500);
        assert_eq!(super::tick_interval(30_000).as_millis(), 5_000);
        assert_eq!(super::tick_interval(1_000_000).as_millis(), 5_000);
    }
}
