//! Each domain decides what it offers, whom it takes orders from and what leaves it, over real
//! processes with mutual TLS:
//!
//! - south publishes its own catalog; maestro's catalog is the union and says who offers each
//!   spec; a spec added to south's catalog directory reaches maestro without a restart, and an
//!   order naming a domain that does not offer its spec is refused at once;
//! - the operator orders for organisation `acme` (from the operator policy, never from the
//!   request); south takes orders from `globex` only, so it refuses the item with the rule,
//!   while north runs it and the order ends `partial`;
//! - north discloses aggregates only and no logs to `acme`: the order shows north's counts but
//!   no site of north, and says what north withheld.

use maestro_proto::catalog::v1::{
    ListServiceSpecsRequest, catalog_service_client::CatalogServiceClient,
};
use maestro_proto::order::v1::{DeliveryState, ItemAction, OrderState};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_decide_what_they_offer_accept_and_disclose() -> anyhow::Result<()> {
    let service = format!("sovereign-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let south_catalog = dir.path().join("south-catalog");
    std::fs::create_dir_all(&south_catalog)?;
    std::fs::copy(
        catalog().join("demo-app.yaml"),
        south_catalog.join("demo-app.yaml"),
    )?;
    let policy_file = dir.path().join("operators-acme.yaml");
    std::fs::write(
        &policy_file,
        format!(
            "operators:\n  {}: {{role: admin, organisation: acme}}\n",
            maestro_cli::dev::pki::OPERATOR
        ),
    )?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        1,
        |component, domain, config| match (component, domain) {
            (Component::Maestro, _) => config["operator_policy"] = json!(policy_file),
            (Component::Domain, "north") => {
                config["policy"] = json!({
                    "organisations": ["acme"],
                    "disclosure": {"organisations": {"acme": {"site_detail": false, "logs": false}}},
                });
            }
            (Component::Domain, "south") => {
                config["catalog_dir"] = json!(south_catalog);
                config["heartbeat_interval_ms"] = json!(200);
                config["policy"] = json!({"organisations": ["globex"]});
            }
            _ => {}
        },
    )?;
    with_logs(&fed, async {
        orders::wait_domains_ready(&fed.api, &["north", "south"], TIMEOUT).await?;
        let mut catalog_client = CatalogServiceClient::new(fed.api.channel()?);
        let offered_by = async |client: &mut CatalogServiceClient<_>, id: &str| {
            let specs = client
                .list_service_specs(ListServiceSpecsRequest {})
                .await?
                .into_inner()
                .specs;
            anyhow::Ok(specs.into_iter().find(|s| s.id == id).map(|s| s.offered_by))
        };
        let demo = offered_by(&mut catalog_client, "demo-app").await?;
        anyhow::ensure!(
            demo == Some(vec!["north".to_string(), "south".to_string()]),
            "north offers maestro's demo-app, south publishes the same: {demo:?}"
        );
        let web = offered_by(&mut catalog_client, "web-container").await?;
        anyhow::ensure!(
            web == Some(vec!["north".to_string()]),
            "south offers only what it publishes: {web:?}"
        );

        // A spec added to south's catalog reaches maestro without a restart.
        std::fs::write(
            south_catalog.join("pump.yaml"),
            "id: pump\nname: Pump controller\nversion: \"2\"\nblueprints:\n  - kind: ProcessDeployment\n    metadata: { name: \"${service}\" }\n    spec: { command: /bin/sleep, args: [\"3600\"], replicas: 1 }\n",
        )?;
        maestro_testkit::wait::until("south's pump spec at maestro", TIMEOUT, async || {
            let by = offered_by(&mut catalog_client, "pump").await?;
            Ok((by == Some(vec!["south".to_string()])).then_some(()))
        })
        .await?;
        let mut client = orders::order_client(&fed.api)?;
        let pump_north = orders::service_order("pump", ItemAction::Add, &service, &[], &["north"]);
        let refused = client
            .create_order(maestro_proto::order::v1::CreateOrderRequest {
                idempotency_key: format!("{service}-pump"),
                order: Some(pump_north),
            })
            .await
            .expect_err("north does not offer pump");
        anyhow::ensure!(
            refused.code() == tonic::Code::InvalidArgument
                && refused.message().contains("placement.domains[0]")
                && refused.message().contains("domain 'north' does not offer it"),
            "{refused:?}"
        );

        // acme orders demo-app in both: south refuses acme, north runs it and discloses
        // aggregates only.
        let spec = orders::demo_order(ItemAction::Add, &service, "sovereign", 1, &["north", "south"]);
        let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        anyhow::ensure!(
            order.organisation == "acme" && order.ordered_by.ends_with("/operator/dev"),
            "who ordered comes from the certificate and the policy: {} {}",
            order.ordered_by,
            order.organisation
        );
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
            south.message.contains("(organisations): organisation acme may not order here"),
            "south says which rule and why: {south:#?}"
        );
        let north_done = |o: &maestro_proto::order::v1::ServiceOrder| {
            o.items[0]
                .domains
                .iter()
                .find(|d| d.domain == "north" && !d.withheld.is_empty() && d.total > 0)
                .cloned()
        };
        let read = orders::get_until(&mut client, &order.id, "north withheld site detail", TIMEOUT, |o| {
            north_done(o).is_some()
        })
        .await?;
        let north = north_done(&read).ok_or_else(|| anyhow::anyhow!("{read:#?}"))?;
        anyhow::ensure!(
            north.ready == north.total && north.total > 0,
            "north ran it and reports its counts: {north:#?}"
        );
        anyhow::ensure!(
            north.sites.is_empty() && !format!("{north:?}").contains("north-1"),
            "no site of north leaves north: {north:#?}"
        );
        anyhow::ensure!(
            north.withheld == ["site_detail", "logs"],
            "the order says what north withheld: {north:#?}"
        );
        Ok(())
    })
    .await
}
