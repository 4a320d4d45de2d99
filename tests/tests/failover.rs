//! Fail-over through the real services, two domains of four sites: a service placed in one of
//! the two domains
//! (`placement.count: 1`) moves to the other when its domain stays unreachable beyond maestro's
//! `failover_after_ms`, with an order maestro places itself; when the lost domain is back it is
//! told to remove the service, so in the end it runs in one domain only.

use maestro_proto::order::v1::{ItemAction, ListOrdersRequest, OrderState, Placement};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);
/// Sites per domain.
const SITES: usize = 4;

/// The sites that run the service, each with how many processes.
fn sites(service: &str) -> BTreeMap<String, usize> {
    workloads_per_site(service)
        .into_iter()
        .map(|(s, w)| (s, w.len()))
        .collect()
}

/// Waits until the service runs at every site of `domain` (one process each) and nowhere else.
async fn runs_only_in(service: &str, domain: &str) -> anyhow::Result<()> {
    let want: BTreeMap<String, usize> = (1..=SITES).map(|i| (format!("{domain}-{i}"), 1)).collect();
    let mut last = BTreeMap::new();
    let done = maestro_testkit::wait::until(
        format!("{service} runs in {domain} only"),
        TIMEOUT,
        async || {
            last = sites(service);
            Ok((last == want).then_some(()))
        },
    )
    .await;
    done.map_err(|e| anyhow::anyhow!("{e}; runs at {last:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_fails_over_from_a_dead_domain_and_the_domain_cleans_up_when_back()
-> anyhow::Result<()> {
    let service = format!("failover-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        SITES,
        |component, _, config| {
            if component == Component::Maestro {
                config["domain_unreachable_after_ms"] = json!(2000);
                config["failover_after_ms"] = json!(4000);
            }
        },
    )?;
    let result = async {
        orders::wait_domains_ready(&fed.api, &["north", "south"], TIMEOUT).await?;
        let mut client = orders::order_client(&fed.api)?;
        let mut spec = orders::demo_order(ItemAction::Add, &service, "hello", 1, &[]);
        spec.items[0].placement = Some(Placement {
            domain_selector: [("tier".to_string(), "edge".to_string())].into(),
            count: 1,
            ..Default::default()
        });
        let placed = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &placed.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
        let domains: Vec<&str> = done.items[0]
            .domains
            .iter()
            .map(|d| d.domain.as_str())
            .collect();
        anyhow::ensure!(
            domains == ["north"],
            "one domain of two, by id: {domains:?}"
        );
        runs_only_in(&service, "north").await?;
        // Each domain reports what its site has free (placement prefers more).
        let mut registry =
            maestro_proto::domain::v1::domain_registry_client::DomainRegistryClient::new(
                fed.api.channel()?,
            );
        let mut seen = Vec::new();
        let reported = maestro_testkit::wait::until("capacity reported", TIMEOUT, async || {
            let list = registry
                .list_domains(maestro_proto::domain::v1::ListDomainsRequest {})
                .await?
                .into_inner();
            seen = list
                .domains
                .iter()
                .map(|d| (d.id.clone(), d.capacity))
                .collect();
            Ok(list
                .domains
                .iter()
                .all(|d| {
                    d.capacity
                        .is_some_and(|c| c.sites == SITES as u32 && c.free_memory_bytes > 0)
                })
                .then_some(list))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}; last seen: {seen:?}"))?;
        anyhow::ensure!(reported.domains.len() == 2, "{reported:#?}");

        // North's orchestrator dies; its site keeps running what it runs.
        fed.domain("north").orchestrator.stop()?;
        let failover = maestro_testkit::wait::until("a fail-over order", TIMEOUT, async || {
            let list = client
                .list_orders(ListOrdersRequest::default())
                .await?
                .into_inner();
            Ok(list.orders.into_iter().find(|o| o.category == "failover"))
        })
        .await?;
        anyhow::ensure!(
            failover.description == format!("fail-over of {service} from north"),
            "{failover:#?}"
        );
        let (moved, _) = orders::watch_until_final(&fed.api, &failover.id, TIMEOUT).await?;
        anyhow::ensure!(moved.state() == OrderState::Completed, "{moved:#?}");
        let item = &moved.items[0];
        let north = item.domains.iter().find(|d| d.domain == "north");
        anyhow::ensure!(
            north.is_some_and(|d| d.leaving)
                && item
                    .domains
                    .iter()
                    .any(|d| d.domain == "south" && !d.leaving),
            "{item:#?}"
        );
        let running = sites(&service);
        anyhow::ensure!(
            (1..=SITES).all(|i| running.get(&format!("south-{i}")) == Some(&1)),
            "south runs it while north is down: {running:?}"
        );

        // North is back: it removes the service, so it runs in south only.
        fed.domain("north").orchestrator.start()?;
        runs_only_in(&service, "south").await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}
