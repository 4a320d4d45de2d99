//! A domain with maintenance windows stores and acknowledges an intent at any time, but
//! publishes it only inside a window: outside, nothing reaches Git and the status says it waits
//! for the window and when that opens. Real server, real sled, real bare Git remote.

mod common;

use common::*;
use domain_orchestrator::windows::Window;
use maestro_common::status::{StatusReason, reasons_from_proto};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Every day but today (UTC), all day: closed now, opening at the next midnight.
fn closed_today() -> Vec<Window> {
    let now = maestro_common::time::now_millis();
    let today = usize::try_from((now.div_euclid(86_400_000) + 3).rem_euclid(7)).unwrap();
    vec![Window {
        days: DAYS
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != today)
            .map(|(_, d)| d.to_string())
            .collect(),
        start: "00:00".into(),
        end: "24:00".into(),
    }]
}

#[tokio::test]
async fn outside_its_windows_a_domain_stores_the_intent_and_holds_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start_with(&dir.path().join("data"), &remote, None, |c| {
        c.policy.maintenance_windows = closed_today();
    })
    .await;
    let mut watch = d.watch().await;
    let i = intent("web", 1, 1);
    let out = apply(&mut d.client, i.clone()).await;
    assert_eq!(
        (out.stored_generation, out.changed),
        (1, true),
        "acknowledged"
    );
    let held = wait_status(&mut watch, |s| {
        s.intent_id == i.id
            && s.message
                .starts_with("waiting for the domain's maintenance window")
    })
    .await;
    let reasons = reasons_from_proto("reasons", held.reasons.clone()).unwrap();
    let now = maestro_common::time::now_millis();
    let midnight = now - now.rem_euclid(86_400_000) + 86_400_000;
    assert_eq!(
        reasons,
        [StatusReason::MaintenanceWindow {
            opens_at_ms: Some(midnight)
        }],
        "{held:?}"
    );
    assert!(held.commit.is_empty(), "nothing published: {held:?}");
    let published = branch(&remote).map(|b| b.files).unwrap_or_default();
    assert!(
        !published.keys().any(|f| f.starts_with("sites/")),
        "no blueprint reached Git: {published:?}"
    );
    let stored = d
        .client
        .get_intent(maestro_proto::intent::v1::GetIntentRequest { id: i.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.intent.unwrap().generation, 1, "the intent is stored");
    d.stop().await;
}
