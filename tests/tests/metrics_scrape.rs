//! Every component serves its metrics for Prometheus on `metrics_listen`, and they move with
//! the work: after an order completes across maestro, a domain, its log server and a site, each
//! scrape holds the instruments of that tier with their labels — gRPC call durations, orders
//! created and their duration, fan-out attempts per domain, intents stored, reconcile and Git
//! publish durations, intents by state, each site's status age, records ingested and subscriber
//! lag, the site's outbox depth, sync durations, the age of the commit it runs and its
//! reconcilers' durations — and a call refused by an authorization rule is counted under that
//! rule.

use maestro_proto::order::v1::{ItemAction, ListOrdersRequest, OrderState};
use maestro_testkit::net::{free_addr, http_get_async};
use maestro_tests::api::MaestroApi;
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

/// Waits until the scrape of `addr` holds every one of `wanted`; the scrape.
async fn scrape_until(addr: SocketAddr, wanted: &[&str]) -> anyhow::Result<String> {
    let mut last = String::new();
    let found = maestro_testkit::until(format!("metrics at {addr}"), TIMEOUT, async || {
        last = http_get_async(addr.port(), "/metrics")
            .await
            .unwrap_or_default();
        Ok(wanted.iter().all(|w| last.contains(w)).then_some(()))
    })
    .await;
    match found {
        Ok(()) => Ok(last),
        Err(e) => {
            let missing: Vec<_> = wanted.iter().filter(|w| !last.contains(**w)).collect();
            anyhow::bail!("{e}; missing {missing:?} in:\n{last}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tier_serves_its_metrics_and_they_follow_an_order() -> anyhow::Result<()> {
    let service = format!("metrics-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let mut scrape: BTreeMap<&'static str, SocketAddr> = BTreeMap::new();
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
        |component, _, config| {
            let name = component.name();
            let addr = free_addr();
            scrape.insert(name, addr);
            config["metrics_listen"] = json!(addr.to_string());
        },
    )?;
    with_logs(&fed, async {
        orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
        let mut client = orders::order_client(&fed.api)?;
        let spec = orders::demo_order(ItemAction::Add, &service, "metrics", 1, &["north"]);
        let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");

        // A domain's certificate may not list orders: refused by a rule, and counted.
        let as_domain = MaestroApi::tls(fed.api.url(), &fed.pki.domains["north"])?;
        let refused = orders::order_client(&as_domain)?
            .list_orders(ListOrdersRequest::default())
            .await;
        anyhow::ensure!(
            refused.as_ref().err().map(tonic::Status::code) == Some(tonic::Code::PermissionDenied),
            "{refused:?}"
        );

        scrape_until(
            scrape["maestro"],
            &[
                "maestro_orders_created_total",
                "maestro_orders_open{",
                "state=\"inProgress\"",
                "maestro_order_duration_seconds_count{",
                "state=\"completed\"",
                "maestro_fanout_attempts_total{",
                "domain=\"north\"",
                "outcome=\"acknowledged\"",
                "maestro_fanout_delivery_duration_seconds_bucket{",
                "rpc_server_call_duration_seconds_bucket{",
                "rpc_method=\"CreateOrder\"",
                "rpc_service=\"maestro.order.v1.OrderService\"",
                "rpc_grpc_status_code=\"0\"",
                "rpc_method=\"RegisterDomain\"",
                "maestro_authz_refused_total{",
                "service_name=\"maestro\"",
            ],
        )
        .await?;
        scrape_until(
            scrape["domain"],
            &[
                "maestro_domain_intents_stored_total{",
                "outcome=\"changed\"",
                "rpc_method=\"ApplyIntent\"",
                "maestro_domain_reconcile_duration_seconds_count{",
                "maestro_domain_git_publish_duration_seconds_bucket{",
                "maestro_domain_site_status_age_seconds{",
                "site=\"north-1\"",
                "maestro_domain_intents{",
                "state=\"active\"",
                "service_name=\"domain-orchestrator\"",
            ],
        )
        .await?;
        scrape_until(
            scrape["log-server"],
            &[
                "maestro_logserver_records_total{",
                "outcome=\"stored\"",
                "rpc_method=\"Push\"",
                "maestro_logserver_subscriber_lag_bucket{",
            ],
        )
        .await?;
        scrape_until(
            scrape["site"],
            &[
                "maestro_site_outbox_depth{",
                "maestro_site_sync_duration_seconds_count{",
                "outcome=\"applied\"",
                "maestro_site_commit_age_seconds{",
                "maestro_site_reconcile_duration_seconds_count{",
                "outcome=\"ok\"",
                "service_name=\"site-agent\"",
            ],
        )
        .await?;
        let missing = http_get_async(scrape["maestro"].port(), "/nothing").await;
        anyhow::ensure!(
            missing.is_some_and(|b| b.contains("/metrics")),
            "another path is a 404 pointing at /metrics"
        );
        Ok(())
    })
    .await
}
