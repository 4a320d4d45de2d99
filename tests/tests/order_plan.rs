//! `maestroctl order plan` (PlanOrder) shows, per domain and site, which blueprints an order would
//! add, change or remove, field by field, as each domain would render them — and which domain
//! would refuse it — without changing anything: no order is stored, no intent moves, no process
//! starts or stops.

use maestro_proto::order::v1::{ItemAction, ListOrdersRequest, OrderState};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup, workloads_per_site};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_shows_every_change_and_changes_nothing() -> anyhow::Result<()> {
    let service = format!("planned-{}", std::process::id());
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
                config["policy"] = json!({"max_replicas": 1});
            }
        },
    )?;
    with_logs(&fed, async {
        orders::wait_domains_ready(&fed.api, &["north", "south"], TIMEOUT).await?;
        let mut client = orders::order_client(&fed.api)?;
        let spec = orders::demo_order(ItemAction::Add, &service, "one", 1, &["north"]);
        let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
        let before = client
            .list_orders(ListOrdersRequest::default())
            .await?
            .into_inner()
            .orders
            .len();

        // Modify, also into south: north changes its blueprint's replicas and message, south
        // would refuse two replicas. Planned with the CLI, as an operator does.
        let file = dir.path().join("modify.yaml");
        std::fs::write(
            &file,
            format!(
                "orderItem:\n  - id: \"1\"\n    action: modify\n    service:\n      name: {service}\n      serviceSpecification: {{ id: demo-app }}\n      serviceCharacteristic:\n        - {{ name: message, value: two }}\n        - {{ name: replicas, value: 2 }}\n    placement: {{ domains: [north, south] }}\n"
            ),
        )?;
        let plan = fed.maestroctl_json(
            maestro_tests::node_bin!(),
            &["order".as_ref(), "plan".as_ref(), "-f".as_ref(), file.as_os_str()],
            &[],
        )?;
        let item = &plan["items"][0];
        anyhow::ensure!(item["action"] == "modify" && item["generation"] == 2, "{plan:#}");
        let domain = |d: &str| {
            item["domains"]
                .as_array()
                .and_then(|ds| ds.iter().find(|x| x["domain"] == d))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let north = domain("north");
        let change = &north["changes"][0];
        anyhow::ensure!(
            change["site"] == "north-1"
                && change["action"] == "change"
                && north["changes"].as_array().map(Vec::len) == Some(1),
            "north changes its one blueprint: {north:#}"
        );
        let fields: Vec<(String, String, String)> = change["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                (s("path"), s("before"), s("after"))
            })
            .collect();
        anyhow::ensure!(
            fields.contains(&("spec.replicas".into(), "1".into(), "2".into())),
            "the replicas field, before and after: {fields:?}"
        );
        anyhow::ensure!(
            fields.iter().any(|(p, b, a)| p.starts_with("spec.args") && b.contains("one") && a.contains("two")),
            "the message in the script: {fields:?}"
        );
        anyhow::ensure!(
            !fields.iter().any(|(p, _, _)| p.contains("intent-generation") || p.contains("traceparent")),
            "bookkeeping annotations are not changes: {fields:?}"
        );
        let south = domain("south");
        anyhow::ensure!(
            south["refusal"]
                .as_str()
                .is_some_and(|r| r.contains("(max_replicas)")),
            "south would refuse: {south:#}"
        );

        // A delete would remove north's blueprint.
        let spec = orders::service_order("demo-app", ItemAction::Delete, &service, &[], &[]);
        let deletion = client
            .plan_order(maestro_proto::order::v1::CreateOrderRequest {
                idempotency_key: format!("{service}-delete-plan"),
                order: Some(spec),
            })
            .await?
            .into_inner();
        let d = &deletion.items[0].domains;
        anyhow::ensure!(
            d.len() == 1
                && d[0].domain == "north"
                && d[0].changes.len() == 1
                && d[0].changes[0].action
                    == maestro_proto::intent::v1::ChangeAction::Remove as i32,
            "{deletion:#?}"
        );

        // Nothing changed: no order stored, the workload still as the add left it.
        let after = client
            .list_orders(ListOrdersRequest::default())
            .await?
            .into_inner()
            .orders
            .len();
        anyhow::ensure!(after == before, "plans store no order: {before} then {after}");
        let running = workloads_per_site(&service);
        anyhow::ensure!(
            running.get("north-1").map(Vec::len) == Some(1) && !running.contains_key("south-1"),
            "one replica at north-1 still, nothing at south-1: {running:?}"
        );
        Ok(())
    })
    .await
}
