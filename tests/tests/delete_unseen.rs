//! Every order ends: a delete placed before a site ever reported the add completes once the
//! site has applied the deletion's commit (its heartbeat says which commit it runs), although
//! the site never had anything to remove and so never reports a removal.

use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::order::v1::{ItemAction, OrderState, ServiceOrder};
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

/// North has published the item's generation and waits for its site.
fn published(order: &ServiceOrder) -> bool {
    order.items.first().is_some_and(|item| {
        item.domains.iter().any(|d| {
            d.domain == "north"
                && reasons_from_proto("reasons", d.reasons.clone()).is_ok_and(|r| {
                    r.iter()
                        .any(|r| matches!(r, StatusReason::WaitingForSites { .. }))
                })
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_before_the_site_reported_the_add_completes() -> anyhow::Result<()> {
    let service = format!("unseen-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
    )?;
    let api = fed.api.clone();
    orders::wait_domains_ready(&api, &["north"], TIMEOUT).await?;
    let mut client = orders::order_client(&api)?;

    // The site is down while the add and the delete are published.
    fed.domain("north").site_agents[0].stop()?;
    let add = orders::demo_order(ItemAction::Add, &service, "never seen", 1, &["north"]);
    let add = orders::create(&mut client, &format!("{service}-add"), add).await?;
    orders::get_until(
        &mut client,
        &add.id,
        "the add published",
        TIMEOUT,
        published,
    )
    .await?;
    let delete = orders::demo_order(ItemAction::Delete, &service, "", 0, &["north"]);
    let delete = orders::create(&mut client, &format!("{service}-delete"), delete).await?;
    orders::get_until(
        &mut client,
        &delete.id,
        "the delete published",
        TIMEOUT,
        published,
    )
    .await?;

    // Back up, the site fetches the deletion's commit directly: it never runs the service.
    fed.domain("north").site_agents[0].start()?;
    let result = orders::watch_until_final(&api, &delete.id, TIMEOUT).await;
    let (done, states) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", fed.failure_report(&e));
            return Err(e);
        }
    };
    assert_eq!(done.state(), OrderState::Completed, "{done:#?}");
    assert_eq!(states.last(), Some(&OrderState::Completed), "{states:?}");
    assert!(
        workloads_per_site(&service).is_empty(),
        "the service never ran"
    );
    Ok(())
}
