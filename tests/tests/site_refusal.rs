//! Blueprints maestro accepts but a site refuses fail the order item with the site's reason,
//! through every tier, instead of leaving it `inProgress` forever: one the process reconciler
//! refuses (an environment name it reserves; it writes the refusal into the blueprint status)
//! and one the colony refuses to take (`workingDir` violates the kind's schema; the site agent
//! reports the refusal). The domain makes the intent INACTIVE and maestro rolls the item up to a
//! final `failed`.

use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_tests::scenario::{with_logs, workload_cleanup};
use maestro_tests::{nodes::ProcessFederation, orders};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

const RECONCILER_REFUSES: &str = r#"id: reserved-env
name: Refused by the process reconciler
version: "1.0"
characteristics:
  - { name: message, valueType: string, default: "m" }
blueprints:
  - kind: ProcessDeployment
    metadata: { name: "${service}" }
    spec: { command: /bin/echo, args: ["${message}"], env: { MAESTRO_OWN: "x" } }
"#;

const COLONY_REFUSES: &str = r#"id: bad-working-dir
name: Refused by the colony's schema
version: "1.0"
blueprints:
  - kind: ProcessDeployment
    metadata: { name: "${service}" }
    spec: { command: /bin/echo, workingDir: 5 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blueprints_the_site_refuses_fail_the_item_with_the_sites_reason() -> anyhow::Result<()> {
    let service = format!("refused-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let catalog = dir.path().join("catalog-src");
    std::fs::create_dir(&catalog)?;
    std::fs::write(catalog.join("reserved-env.yaml"), RECONCILER_REFUSES)?;
    std::fs::write(catalog.join("bad-working-dir.yaml"), COLONY_REFUSES)?;
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
    for (spec_id, suffix, reason) in [
        (
            "reserved-env",
            "env",
            "spec.env: invalid or reserved name \"MAESTRO_OWN\"",
        ),
        (
            "bad-working-dir",
            "wd",
            "field 'workingDir' must be a string",
        ),
    ] {
        let name = format!("{service}-{suffix}");
        let spec = orders::service_order(spec_id, ItemAction::Add, &name, &[], &["north"]);
        let order = orders::create(&mut client, &name, spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        assert_eq!(done.state(), OrderState::Failed, "{spec_id}: {done:#?}");
        let reasons = reasons_from_proto("reasons", done.items[0].reasons.clone())?;
        let [StatusReason::Failed { domain, error }] = reasons.as_slice() else {
            panic!("{spec_id}: one failed reason: {reasons:?}");
        };
        assert_eq!(domain, "north");
        assert!(
            error.contains(&format!("refused blueprint {name}: ")) && error.ends_with(reason),
            "{spec_id}: {error}"
        );
    }
    Ok(())
}
