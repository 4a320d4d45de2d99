//! A domain's policy decides what it accepts: an order for two domains whose item breaks one
//! domain's policy (south takes at most one replica per blueprint) is refused by that domain
//! with the rule and the reason — never retried, nothing of it runs there — while the other
//! domain runs it, and the order ends `partial` saying why.

use maestro_proto::order::v1::{DeliveryState, ItemAction, OrderState};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup, workloads_per_site};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_outside_a_domains_policy_is_refused_there_and_runs_elsewhere()
-> anyhow::Result<()> {
    let service = format!("policy-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        1,
        |component, domain, config| {
            if component == Component::Domain && domain == "south" {
                config["policy"] = json!({"max_replicas": 1, "command_dirs": ["/bin", "/usr/bin"]});
            }
        },
    )?;
    with_logs(&fed, async {
        orders::wait_domains_ready(&fed.api, &["north", "south"], TIMEOUT).await?;
        let mut client = orders::order_client(&fed.api)?;
        let spec = orders::demo_order(ItemAction::Add, &service, "policy", 2, &["north", "south"]);
        let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Partial, "{done:#?}");
        let item = &done.items[0];
        let south = item
            .domains
            .iter()
            .find(|d| d.domain == "south")
            .ok_or_else(|| anyhow::anyhow!("no south progress: {item:#?}"))?;
        anyhow::ensure!(south.delivery() == DeliveryState::Rejected, "{south:#?}");
        anyhow::ensure!(
            south.delivery_attempts == 1,
            "a refusal is not retried: {south:#?}"
        );
        let why = "refused by the domain's policy (max_replicas): blueprint";
        anyhow::ensure!(
            south.message.contains(why) && south.message.contains("at most 1"),
            "south says which rule and why: {south:#?}"
        );
        anyhow::ensure!(item.reason.contains(why), "the item says why: {item:#?}");
        let north = item.domains.iter().find(|d| d.domain == "north");
        anyhow::ensure!(
            north.is_some_and(|n| n.ready == n.total && n.total > 0),
            "north ran it: {item:#?}"
        );
        let running = workloads_per_site(&service);
        anyhow::ensure!(
            running.get("north-1").map(Vec::len) == Some(2) && !running.contains_key("south-1"),
            "two replicas at north-1, nothing at south-1: {running:?}"
        );
        Ok(())
    })
    .await
}
