//! The `ConfigFile` reconciler end to end: an order of `gateway-config` writes the gateway's files
//! at both sites of a domain (content, mode, SHA-256 in the status), a modify rewrites them, a
//! delete removes them; a file an operator put in the managed directory by hand is left alone.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use maestro_proto::order::v1::{ItemAction, OrderSpec, OrderState, ServiceState};
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(90);
const DOMAIN: &str = "north";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_files_follow_add_modify_delete_at_two_sites() -> anyhow::Result<()> {
    let service = format!("gw{}", std::process::id());
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &[DOMAIN],
        2,
    )?;
    with_logs(&fed, scenario(&fed, &service)).await
}

/// The managed directory of `site` (the default, inside the site's data dir).
fn managed_dir(fed: &ProcessFederation, site: &str) -> PathBuf {
    fed.dir
        .join(DOMAIN)
        .join(format!("sites/{site}/data/config-files"))
}

fn order(action: ItemAction, service: &str, upstream: &str, poll: i64) -> OrderSpec {
    let chars = [("upstream", json!(upstream)), ("pollSeconds", json!(poll))];
    orders::service_order("gateway-config", action, service, &chars, &[DOMAIN])
}

fn read(path: &Path) -> anyhow::Result<(String, u32)> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((std::fs::read_to_string(path)?, mode))
}

async fn run(fed: &ProcessFederation, key: &str, spec: OrderSpec) -> anyhow::Result<u64> {
    let mut client = orders::order_client(&fed.api)?;
    let order = orders::create(&mut client, key, spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    assert_eq!(done.state(), OrderState::Completed, "{key}: {done:#?}");
    let d = &done.items[0].domains[0];
    if d.service_state() == ServiceState::Active {
        assert_eq!(
            (d.ready, d.total),
            (2, 2),
            "the blueprint ready at both sites: {d:?}"
        );
    }
    Ok(d.generation)
}

async fn scenario(fed: &ProcessFederation, service: &str) -> anyhow::Result<()> {
    orders::wait_domains_ready(&fed.api, &[DOMAIN], TIMEOUT).await?;
    let sites = fed.domains[0].sites.clone();
    assert_eq!(sites.len(), 2);
    let by_hand = managed_dir(fed, &sites[0]).join("operator.conf");
    let conf = |site: &str| managed_dir(fed, site).join(format!("gateway/{service}.conf"));
    let id = |site: &str| managed_dir(fed, site).join(format!("gateway/{service}.id"));

    // 1. add: both files at both sites, the .conf with mode 0640, the .id with the default 0644.
    let generation = run(
        fed,
        &format!("{service}-add"),
        order(ItemAction::Add, service, "10.0.0.1:502", 10),
    )
    .await?;
    assert_eq!(generation, 1);
    for site in &sites {
        let (text, mode) = read(&conf(site))?;
        assert_eq!(
            text,
            format!(
                "# written by maestro for {site} in {DOMAIN}\nupstream = 10.0.0.1:502\npoll_seconds = 10\n"
            )
        );
        assert_eq!(mode, 0o640);
        assert_eq!(read(&id(site))?, (format!("{service}@{site}\n"), 0o644));
    }
    std::fs::write(&by_hand, "keep me\n")?;

    // 2. modify: the new upstream is written at both sites.
    let generation = run(
        fed,
        &format!("{service}-modify"),
        order(ItemAction::Modify, service, "10.0.0.2:502", 30),
    )
    .await?;
    assert_eq!(generation, 2);
    for site in &sites {
        let (text, mode) = read(&conf(site))?;
        assert!(
            text.contains("upstream = 10.0.0.2:502\npoll_seconds = 30\n"),
            "{site}: {text}"
        );
        assert_eq!(mode, 0o640);
    }

    // 3. delete: the files and their folder go; the operator's file stays.
    run(
        fed,
        &format!("{service}-delete"),
        order(ItemAction::Delete, service, "", 0),
    )
    .await?;
    for site in &sites {
        assert!(
            !conf(site).exists() && !id(site).exists(),
            "{site}: files left"
        );
        assert!(
            !managed_dir(fed, site).join("gateway").exists(),
            "{site}: empty folder left"
        );
    }
    assert_eq!(std::fs::read_to_string(&by_hand)?, "keep me\n");
    Ok(())
}
