//! A blueprint maestro accepts but a site refuses (here an environment name the process
//! reconciler reserves) fails the order item with the site's reason, through every tier: the
//! reconciler writes the refusal into the blueprint status, the site agent forwards it, the
//! domain makes the intent INACTIVE and maestro rolls the item up to a final `failed`, instead of
//! `inProgress` forever.

use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_tests::scenario::{with_logs, workload_cleanup};
use maestro_tests::{nodes::ProcessFederation, orders};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

const REFUSED_SPEC: &str = r#"id: refused-app
name: Refused by the site
version: "1.0"
characteristics:
  - { name: message, valueType: string, default: "m" }
blueprints:
  - kind: ProcessDeployment
    metadata: { name: "${service}" }
    spec: { command: /bin/echo, args: ["${message}"], env: { MAESTRO_OWN: "x" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blueprint_the_site_refuses_fails_the_item_with_the_sites_reason() -> anyhow::Result<()> {
    let service = format!("refused-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let catalog = dir.path().join("catalog-src");
    std::fs::create_dir(&catalog)?;
    std::fs::write(catalog.join("refused-app.yaml"), REFUSED_SPEC)?;
    let fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog,
        &["north"],
        1,
    )?;
    with_logs(&fed, scenario(&fed, &service)).await
}

async fn scenario(fed: &ProcessFederation, service: &str) -> anyhow::Result<()> {
    orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
    let mut client = orders::order_client(&fed.api)?;
    let spec = orders::service_order("refused-app", ItemAction::Add, service, &[], &["north"]);
    let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    assert_eq!(done.state(), OrderState::Failed, "{done:#?}");
    let item = &done.items[0];
    let reasons = reasons_from_proto("reasons", item.reasons.clone())?;
    let [StatusReason::Failed { domain, error }] = reasons.as_slice() else {
        panic!("one failed reason: {reasons:?}");
    };
    assert_eq!(domain, "north");
    assert!(
        error.contains(&format!("refused blueprint {service}"))
            && error.ends_with("spec.env: invalid or reserved name \"MAESTRO_OWN\""),
        "{error}"
    );
    Ok(())
}
