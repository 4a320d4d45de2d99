use super::{HeardRefresh, MARKS_KEPT, Marks, apply_record};
use crate::context::Context;
use crate::store::{IntentStore, ObservedStore, RenderedIntent, SledStore};
use crate::translator::RenderedBlueprint;
use maestro_common::ResourceName;
use maestro_common::time::timestamp;
use maestro_proto::logs::v1::{Record, SiteHeartbeat, record::Body};
use std::collections::BTreeSet;
use std::sync::Arc;

const THRESHOLD_MS: u64 = 60_000;
const REFRESH_MS: i64 = 30_000;

/// A heartbeat of `site` heard at `at`, with what the site says of its sync and pause.
fn heartbeat(site: &str, at: i64, error: &str, paused: &str) -> Record {
    Record {
        domain: "north".into(),
        site: site.into(),
        stream: "heartbeat".into(),
        received_at: Some(timestamp(at)),
        body: Some(Body::Heartbeat(SiteHeartbeat {
            commit: "c1".into(),
            synced_at: Some(timestamp(at)),
            sync_error: error.into(),
            failing_since: (!error.is_empty()).then(|| timestamp(1_000)),
            paused: paused.into(),
            free_memory_bytes: at as u64,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A context over a fresh store holding rendered intents `intents` (id, the sites of its one
/// blueprint), with sites s1 and s2.
fn context(dir: &std::path::Path, intents: &[(&str, &[&str])]) -> (Context, Arc<SledStore>) {
    let store = Arc::new(SledStore::open(dir).expect("a store"));
    let ctx = Context::new(
        "north".into(),
        vec!["s1".into(), "s2".into()],
        store.clone(),
        store.clone(),
        Arc::new(crate::git::NoRepo),
        Arc::new(crate::hub::StatusHub::default()),
    )
    .with_site_unreachable_after_ms(THRESHOLD_MS);
    let name = |field: &str, v: &str| ResourceName::parse(field, v).expect("a name");
    for (id, sites) in intents {
        let rendered = RenderedIntent {
            generation: 1,
            step: 0,
            deleted: false,
            blueprints: sites
                .iter()
                .map(|site| RenderedBlueprint {
                    site: name("site", site),
                    kind: name("kind", "ProcessDeployment"),
                    name: name("name", id),
                    content: "{}".into(),
                })
                .collect(),
            commit: None,
        };
        store.put_rendered(id, &rendered).expect("stored");
    }
    (ctx, store)
}

/// The intents each record it is handed affects, applied in order as the follower does.
fn follower(ctx: &Context) -> impl FnMut(Record) -> BTreeSet<String> + '_ {
    let mut refresh = HeardRefresh::new(THRESHOLD_MS);
    move |record| apply_record(ctx, &record, &mut None, &mut refresh).expect("applied")
}

const T: i64 = 1_700_000_000_000;

/// Which intents each heartbeat affects: only those whose status it can change, or whose
/// last-heard time is due for a refresh.
#[test]
fn a_heartbeat_affects_the_intents_at_its_site_only_when_it_changes_their_status() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (ctx, store) = context(dir.path(), &[("web", &["s1"])]);
    let mut affected = follower(&ctx);
    let web = BTreeSet::from(["web".to_string()]);
    let none = BTreeSet::new();

    assert_eq!(
        affected(heartbeat("s1", T, "", "")),
        web,
        "the first heartbeat"
    );
    assert_eq!(
        affected(heartbeat("s1", T + 1_000, "", "")),
        none,
        "still here: only the times and the free capacity changed"
    );
    assert_eq!(
        affected(heartbeat("s1", T + 2_000, "fetch failed", "")),
        web,
        "the sync fails"
    );
    assert_eq!(
        affected(heartbeat("s1", T + 3_000, "fetch failed", "")),
        none,
        "it still fails, since the same time"
    );
    assert_eq!(
        affected(heartbeat("s1", T + REFRESH_MS - 1, "fetch failed", "")),
        none,
        "just before the refresh is due"
    );
    assert_eq!(
        affected(heartbeat("s1", T + REFRESH_MS, "fetch failed", "")),
        web,
        "the last-heard time is refreshed half a threshold after the site's last refresh"
    );
    assert_eq!(
        affected(heartbeat("s1", T + REFRESH_MS + 1_000, "fetch failed", "")),
        none
    );
    assert_eq!(
        affected(heartbeat("s1", T + 2 * REFRESH_MS, "fetch failed", "")),
        web,
        "and again"
    );
    assert_eq!(
        affected(heartbeat("s1", T + 2 * REFRESH_MS + 1_000, "", "")),
        web,
        "the sync recovered"
    );
    // s2 runs nothing of the intent; a pause there still concerns every intent.
    assert_eq!(affected(heartbeat("s2", T, "", "")), web, "s2 first heard");
    assert_eq!(affected(heartbeat("s2", T + 1_000, "", "")), none);
    assert_eq!(
        affected(heartbeat("s2", T + 2_000, "", "maintenance")),
        web,
        "s2 pauses"
    );
    assert_eq!(
        affected(heartbeat("s2", T + 2 * REFRESH_MS, "", "maintenance")),
        none,
        "a refresh of s2 concerns no intent: none has a blueprint there"
    );
    assert_eq!(
        ObservedStore::last_heard(store.as_ref(), "s1").expect("read"),
        Some(T + 2 * REFRESH_MS + 1_000),
        "every heartbeat is heard"
    );
}

/// An intent at many sites is refreshed once per interval, not once per site's refresh.
#[test]
fn an_intent_at_several_sites_is_refreshed_once_per_interval() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (ctx, _store) = context(dir.path(), &[("wide", &["s1", "s2"])]);
    let mut affected = follower(&ctx);
    let wide = BTreeSet::from(["wide".to_string()]);
    let none = BTreeSet::new();

    assert_eq!(affected(heartbeat("s1", T, "", "")), wide, "s1 first heard");
    assert_eq!(affected(heartbeat("s2", T, "", "")), wide, "s2 first heard");
    assert_eq!(
        affected(heartbeat("s1", T + REFRESH_MS, "", "")),
        wide,
        "s1's refresh"
    );
    assert_eq!(
        affected(heartbeat("s2", T + REFRESH_MS + 1_000, "", "")),
        none,
        "s2's refresh is due, but the intent was refreshed a second ago"
    );
    assert_eq!(
        affected(heartbeat("s1", T + 2 * REFRESH_MS, "", "")),
        wide,
        "the next interval"
    );
    assert_eq!(
        affected(heartbeat("s2", T + 2 * REFRESH_MS + 1_000, "", "")),
        none
    );
    assert_eq!(
        affected(heartbeat("s2", T + 2 * REFRESH_MS + 2_000, "failing", "")),
        wide,
        "a change is never held back"
    );
}

#[test]
fn the_refresh_is_half_the_threshold_or_fifteen_seconds_without_one() {
    assert_eq!(HeardRefresh::new(60_000).every, 30_000);
    assert_eq!(HeardRefresh::new(300).every, 150);
    assert_eq!(HeardRefresh::new(0).every, 15_000);
}

/// Marks an interval old are dropped once the map has grown (deleted intents do not stay for
/// the life of the process); younger ones are kept and still hold their refresh back.
#[test]
fn marks_an_interval_old_are_dropped_and_younger_ones_kept() {
    let mut marks = Marks::default();
    assert!(marks.due_then_mark("young", T + REFRESH_MS / 2, REFRESH_MS));
    for i in 1..MARKS_KEPT {
        assert!(marks.due_then_mark(&format!("gone-{i}"), T, REFRESH_MS));
    }
    assert_eq!(marks.len(), MARKS_KEPT, "nothing dropped up to the floor");
    assert!(marks.due_then_mark("new", T + REFRESH_MS, REFRESH_MS));
    assert_eq!(marks.len(), 2, "the marks an interval old were dropped");
    assert!(
        !marks.due_then_mark("young", T + REFRESH_MS, REFRESH_MS),
        "a mark younger than the interval is kept"
    );
    assert!(
        marks.due_then_mark("gone-1", T + REFRESH_MS, REFRESH_MS),
        "a dropped mark is due, as it was before the drop"
    );
}
