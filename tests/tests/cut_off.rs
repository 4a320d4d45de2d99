//! A site cut off from its log server keeps running what it was told and buffers what it
//! observes; maestro shows the site and its domain `unreachable` (pending, never failed) with a
//! typed reason that holds when it was last heard (which stays put while it is silent; viewers
//! compute the growing age), and the order completes once the log server is back and the
//! buffered records arrive.

use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_proto::logs::v1::{QueryRequest, RecordFilter};
use maestro_proto::order::v1::{
    DomainProgress, ItemAction, OrderState, ServiceOrder, ServiceState,
};
use maestro_testkit::until;
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);
/// The domains' `site_unreachable_after_ms` in this test.
const SITE_UNREACHABLE_MS: u64 = 3_000;
/// How long north is watched while cut off.
const OBSERVE: Duration = Duration::from_millis(2_500);

fn progress<'a>(order: &'a ServiceOrder, domain: &str) -> Option<&'a DomainProgress> {
    order
        .items
        .first()?
        .domains
        .iter()
        .find(|d| d.domain == domain)
}

/// North's view while it is cut off: unreachable at site and domain level, pending with the
/// reason, nothing failed or final.
fn assert_cut_off(order: &ServiceOrder) -> anyhow::Result<()> {
    let item = &order.items[0];
    anyhow::ensure!(
        !orders::is_final(order.state()),
        "order final while north is cut off: {order:#?}"
    );
    anyhow::ensure!(
        item.state() == OrderState::Pending,
        "item not PENDING: {order:#?}"
    );
    anyhow::ensure!(
        matches!(
            item_reason(order)?,
            Some(StatusReason::Unreachable { ref domain, .. }) if domain == "north"
        ),
        "reason {:?}",
        item.reasons
    );
    let north = progress(order, "north").ok_or_else(|| anyhow::anyhow!("no north progress"))?;
    anyhow::ensure!(north.unreachable, "north not unreachable: {north:#?}");
    anyhow::ensure!(
        north
            .sites
            .iter()
            .any(|s| s.site == "north-1" && s.unreachable),
        "north-1 not unreachable: {north:#?}"
    );
    anyhow::ensure!(
        north.service_state() != ServiceState::Inactive,
        "north must not look failed: {north:#?}"
    );
    Ok(())
}

/// The typed reason of the order's item.
fn item_reason(order: &ServiceOrder) -> anyhow::Result<Option<StatusReason>> {
    let mut r = reasons_from_proto("reasons", order.items[0].reasons.clone())?;
    Ok(r.pop())
}

/// When the unreachable peer of the item's reason was last heard (ms), if it says.
fn last_heard_ms(order: &ServiceOrder) -> anyhow::Result<Option<i64>> {
    match item_reason(order)? {
        Some(StatusReason::Unreachable { last_heard_ms, .. }) => Ok(last_heard_ms),
        other => anyhow::bail!("not unreachable: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_site_is_unreachable_not_failed_and_completes_when_back() -> anyhow::Result<()> {
    let service = format!("cutoff-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        1,
        |component, _, config| match component {
            Component::Domain => {
                config["site_unreachable_after_ms"] = SITE_UNREACHABLE_MS.into();
            }
            Component::Maestro => config["domain_unreachable_after_ms"] = 5_000.into(),
            Component::LogServer | Component::Site => {}
        },
    )?;
    let url = fed.api.clone();
    let north_log_url = {
        let cfg = std::fs::read(dir.path().join("north/log-server/config.json"))?;
        let cfg: serde_json::Value = serde_json::from_slice(&cfg)?;
        format!("https://{}", cfg["listen"].as_str().unwrap_or_default())
    };
    // Only domain north may read its log server's records.
    let north_tls = maestro_common::tls::TlsSource::load(&fed.pki.domains["north"])?;
    let scenario = async {
        orders::wait_domains_ready(&url, &["north", "south"], TIMEOUT).await?;
        let mut client = orders::order_client(&url)?;

        // North's domain has heard its site (a heartbeat reached the log server), so the age
        // shown while cut off counts from a real record.
        let mut logs = LogServiceClient::new(maestro_common::grpc::channel_with(
            &north_log_url,
            north_tls.as_ref(),
            None,
        )?);
        let site_records = QueryRequest {
            filter: Some(RecordFilter {
                site: "north-1".into(),
                ..RecordFilter::default()
            }),
            after_sequence: 0,
            page_size: 1,
        };
        until("north-1 to report to its log server", TIMEOUT, async || {
            let page = logs.query(site_records.clone()).await?.into_inner();
            Ok((!page.records.is_empty()).then_some(()))
        })
        .await?;

        let cut_at = maestro_common::time::now_millis();
        fed.domain("north").log_server.kill9();
        let spec = orders::demo_order(ItemAction::Add, &service, "v1", 1, &["north", "south"]);
        let order = orders::create(&mut client, &format!("{service}-1"), spec).await?;

        // North keeps reconciling without its log server; south completes its part.
        until(format!("north-1 to run {service}"), TIMEOUT, async || {
            Ok(workloads_per_site(&service)
                .contains_key("north-1")
                .then_some(()))
        })
        .await?;
        let first = orders::get_until(&mut client, &order.id, "cut off at north", TIMEOUT, |o| {
            let south_done = progress(o, "south").is_some_and(|d| {
                d.service_state() == ServiceState::Active && d.ready == d.total && d.total > 0
            });
            south_done && assert_cut_off(o).is_ok()
        })
        .await?;
        let first_at = Instant::now();
        let north_heard = progress(&first, "north").and_then(|d| d.last_heard);
        let site_heard = progress(&first, "north")
            .and_then(|d| d.sites.iter().find(|s| s.site == "north-1"))
            .and_then(|s| s.last_heard);
        eprintln!("cut off: {}", first.items[0].reason);
        let first_heard = last_heard_ms(&first)?;
        if let (Some(StatusReason::Unreachable { site: Some(s), .. }), Some(t)) =
            (item_reason(&first)?, site_heard)
        {
            anyhow::ensure!(s == "north-1", "cut off site {s}");
            anyhow::ensure!(
                first_heard == Some(maestro_common::time::millis(Some(&t))),
                "the reason says when north-1 was last heard: {first_heard:?}"
            );
        }

        // Watched for a while, north stays cut off: the same last-heard times everywhere, so
        // the age a viewer computes only grows.
        let mut last = first.clone();
        while first_at.elapsed() < OBSERVE {
            tokio::time::sleep(Duration::from_millis(200)).await; // sample the order over time
            let o = orders::get(&mut client, &order.id).await?;
            assert_cut_off(&o)?;
            let north = progress(&o, "north").expect("checked");
            anyhow::ensure!(
                north.last_heard == north_heard,
                "north last_heard moved: {north:#?}"
            );
            let site = north
                .sites
                .iter()
                .find(|s| s.site == "north-1")
                .expect("checked");
            anyhow::ensure!(
                site.last_heard == site_heard,
                "north-1 last_heard moved: {site:#?}"
            );
            anyhow::ensure!(
                last_heard_ms(&o)? == first_heard,
                "the reason's last-heard time moved: {:?} then {:?}",
                first.items[0].reasons,
                o.items[0].reasons
            );
            anyhow::ensure!(
                !o.items[0].reason.contains(" ago"),
                "no age in text: {}",
                o.items[0].reason
            );
            last = o;
        }
        eprintln!("still cut off: {}", last.items[0].reason);
        anyhow::ensure!(
            workloads_per_site(&service).contains_key("north-1"),
            "north-1 stopped its workload while cut off"
        );

        // Back: the records the site buffered arrive and the order completes.
        let back_at = maestro_common::time::now_millis();
        fed.domain("north").log_server.start()?;
        let (done, states) = orders::watch_until_final(&url, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
        anyhow::ensure!(
            !states.contains(&OrderState::Failed),
            "states seen: {states:?}"
        );
        let north = progress(&done, "north").expect("north progress");
        anyhow::ensure!(!north.unreachable && north.ready == 1, "{north:#?}");

        // Status records observed while cut off reached the log server after it came back.
        let buffered = logs
            .query(QueryRequest {
                filter: Some(RecordFilter {
                    site: "north-1".into(),
                    streams: vec!["status".into()],
                    since: Some(maestro_common::time::timestamp(cut_at)),
                    until: Some(maestro_common::time::timestamp(back_at)),
                    ..RecordFilter::default()
                }),
                after_sequence: 0,
                page_size: 100,
            })
            .await?
            .into_inner()
            .records;
        anyhow::ensure!(
            buffered.iter().any(|r| r.blueprint == service),
            "no status of {service} observed while cut off: {buffered:#?}"
        );
        Ok(())
    };
    let result = scenario.await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}
