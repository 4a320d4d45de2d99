//! Done-when 3 and 4: SIGKILLed domain orchestrators and maestro lose nothing and duplicate
//! nothing; a domain that is down when the order is placed gets its intent when it returns.

use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use maestro_tests::{nodes::ProcessFederation, orders};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

fn assert_exactly(service: &str, sites: usize, replicas: usize) {
    let running = workloads_per_site(service);
    assert_eq!(running.len(), sites, "sites running {service}: {running:?}");
    for (site, ws) in &running {
        assert_eq!(
            ws.len(),
            replicas,
            "no duplicated processes at {site}: {ws:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_domain_and_maestro_lose_nothing() -> anyhow::Result<()> {
    let service = format!("restart-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        1,
    )?;
    let url = fed.api.clone();
    let result = async {
        orders::wait_domains_ready(&url, &["north", "south"], TIMEOUT).await?;
        let mut client = orders::order_client(&url)?;

        // Kill the north domain orchestrator right after the order is accepted, then restart it.
        let spec = orders::demo_order(ItemAction::Add, &service, "v1", 2, &["north", "south"]);
        let order = orders::create(&mut client, &format!("{service}-1"), spec).await?;
        fed.domain("north").orchestrator.kill9();
        fed.domain("north").orchestrator.start()?;
        let (done, _) = orders::watch_until_final(&url, &order.id, TIMEOUT).await?;
        assert_eq!(done.state(), OrderState::Completed, "{done:#?}");
        assert_exactly(&service, 2, 2);

        // Kill maestro right after it accepted a modify order, then restart it.
        let spec = orders::demo_order(ItemAction::Modify, &service, "v2", 3, &["north", "south"]);
        let order = orders::create(&mut client, &format!("{service}-2"), spec).await?;
        fed.maestro.kill9();
        fed.maestro.start()?;
        let (done, _) = orders::watch_until_final(&url, &order.id, TIMEOUT).await?;
        assert_eq!(done.state(), OrderState::Completed, "{done:#?}");
        assert!(done.items[0].domains.iter().all(|d| d.generation == 2));
        assert_exactly(&service, 2, 3);

        // The same idempotency key after the restart returns the same order.
        let again = orders::demo_order(ItemAction::Modify, &service, "v2", 3, &["north", "south"]);
        let same = orders::create(&mut client, &format!("{service}-2"), again).await?;
        assert_eq!(same.id, order.id);
        Ok(())
    };
    let result = result.await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_down_at_order_time_gets_its_intent_when_back() -> anyhow::Result<()> {
    let service = format!("down-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        1,
    )?;
    let url = fed.api.clone();
    let result = async {
        orders::wait_domains_ready(&url, &["north", "south"], TIMEOUT).await?;
        fed.domain("south").orchestrator.kill9();
        let mut client = orders::order_client(&url)?;
        let spec = orders::demo_order(ItemAction::Add, &service, "v1", 1, &["north", "south"]);
        let order = orders::create(&mut client, &format!("{service}-1"), spec).await?;

        // North converges while south is down; the order is not final.
        let o = orders::get_until(&mut client, &order.id, "north running", TIMEOUT, |_| {
            workloads_per_site(&service).contains_key("north-1")
        })
        .await?;
        assert!(
            !orders::is_final(o.state()),
            "order must wait for south: {o:#?}"
        );
        assert!(!workloads_per_site(&service).contains_key("south-1"));

        // Once south is silent past the threshold, its item is pending with the reason and the age,
        // north's part is active, and nothing failed.
        let pending =
            orders::get_until(&mut client, &order.id, "south unreachable", TIMEOUT, |o| {
                matches!(
                    reasons_from_proto("reasons", o.items[0].reasons.clone()).as_deref(),
                    Ok([StatusReason::Unreachable { domain, site: None, .. }]) if domain == "south"
                )
            })
            .await?;
        let item = &pending.items[0];
        assert_eq!(item.state(), OrderState::Pending, "{pending:#?}");
        let typed = reasons_from_proto("reasons", item.reasons.clone())?;
        assert!(
            matches!(
                typed.as_slice(),
                [StatusReason::Unreachable {
                    last_heard_ms: Some(_),
                    ..
                }]
            ),
            "the reason says when south was last heard: {typed:?}"
        );
        let by_domain = |d: &str| {
            item.domains
                .iter()
                .find(|p| p.domain == d)
                .expect("domain progress")
        };
        assert!(by_domain("south").unreachable, "{pending:#?}");
        assert_eq!(
            by_domain("north").service_state(),
            maestro_proto::order::v1::ServiceState::Active
        );
        assert_ne!(pending.state(), OrderState::Failed);

        fed.domain("south").orchestrator.start()?;
        let (done, _) = orders::watch_until_final(&url, &order.id, TIMEOUT).await?;
        assert_eq!(done.state(), OrderState::Completed, "{done:#?}");
        assert_exactly(&service, 2, 1);
        Ok(())
    };
    let result = result.await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}
