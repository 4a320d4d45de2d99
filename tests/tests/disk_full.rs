//! A full disk, at a domain and at maestro (each on a small tmpfs the test fills): new work is
//! refused or held, never acknowledged and then lost, and everything resumes once space is back.
//!
//! - Domain disk full: maestro acknowledges a new order (its own disk is fine); the domain's
//!   store fails to write the intent, refuses it (maestro retries), and the domain restarts
//!   itself to reopen its store (sled takes no write after a failed one). What ran before keeps
//!   running; when space returns the order completes, once.
//! - Maestro disk full: a new order is refused with `RESOURCE_EXHAUSTED` (not acknowledged),
//!   maestro restarts itself the same way, and the orders already stored still read back; when
//!   space returns the same idempotency key makes exactly one order, which completes.

use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_testkit::tmpfs::Tmpfs;
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);
/// Big enough for a domain's or maestro's sled and Git mirror at the start of a test.
const DISK_MIB: u64 = 96;

fn running(service: &str) -> usize {
    workloads_per_site(service)
        .get("north-1")
        .map_or(0, Vec::len)
}

/// Waits until exactly one process of `service` runs at the site (a replaced process may still
/// be on its way out when an order completes).
async fn runs_once(service: &str) -> anyhow::Result<()> {
    let mut last = 0;
    let found = maestro_testkit::until(format!("{service} to run once"), TIMEOUT, async || {
        last = running(service);
        anyhow::ensure!(last <= 1, "{last} processes of {service} run at once");
        Ok((last == 1).then_some(()))
    })
    .await;
    found.map_err(|e| anyhow::anyhow!("{e}; {last} running"))
}

/// Most orders sent to fill a disk's last free space before its store fails.
const FILL_ORDERS: usize = 50;
const STORE_FAILED: &str = "its store failed; restarting it to reopen the store";
const DISK_FULL: &str = "the disk is full: the store is restarted once there is room";
const RESTARTED: &str = "restarted with its store reopened";

/// Whether `node`'s log contains `text`.
fn has_logged(node: &maestro_tests::nodes::Node, text: &str) -> bool {
    let log = std::fs::read(node.log_path()).unwrap_or_default();
    String::from_utf8_lossy(&log).contains(text)
}

/// Waits until `node`'s log contains `text`.
async fn logged(node: &maestro_tests::nodes::Node, text: &str) -> anyhow::Result<()> {
    maestro_testkit::until(
        format!("{} to log {text:?}", node.name),
        TIMEOUT,
        async || Ok(has_logged(node, text).then_some(())),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_or_refuses_new_work_and_loses_nothing() -> anyhow::Result<()> {
    let tag = format!("full{}", std::process::id());
    let (before, during, after) = (
        format!("{tag}-before"),
        format!("{tag}-during"),
        format!("{tag}-after"),
    );
    let _cleanup: Vec<_> = [&before, &during, &after]
        .iter()
        .map(|s| workload_cleanup(s))
        .collect();
    let maestro_disk = Tmpfs::mount(DISK_MIB)?;
    let domain_disk = Tmpfs::mount(DISK_MIB)?;
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
        |component, _, config| match component {
            Component::Maestro => config["data_dir"] = json!(maestro_disk.path().join("data")),
            Component::Domain => config["data_dir"] = json!(domain_disk.path().join("data")),
            _ => {}
        },
    )?;
    let result = scenario(
        &fed,
        &maestro_disk,
        &domain_disk,
        [&before, &during, &after],
    )
    .await;
    if let Err(e) = &result {
        eprintln!("disk full: {}", fed.failure_report(e));
    }
    result
}

async fn scenario(
    fed: &ProcessFederation,
    maestro_disk: &Tmpfs,
    domain_disk: &Tmpfs,
    [before, during, after]: [&String; 3],
) -> anyhow::Result<()> {
    let api = &fed.api;
    orders::wait_domains_ready(api, &["north"], TIMEOUT).await?;
    let mut client = orders::order_client(api)?;
    let add = |service: &str| orders::demo_order(ItemAction::Add, service, "disk", 1, &["north"]);
    // A change of `before` that leaves it running as it is: every one is a write at maestro and
    // at the domain.
    let touch = |n: usize| {
        orders::demo_order(
            ItemAction::Modify,
            before,
            &format!("touch {n}"),
            1,
            &["north"],
        )
    };

    let first = orders::create(&mut client, "before", add(before)).await?;
    let (done, _) = orders::watch_until_final(api, &first.id, TIMEOUT).await?;
    anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");

    // The domain's disk fills. sled may still fit a write or two in space it already has, so
    // orders go on until the domain's store fails; maestro (its disk is fine) acknowledges each.
    let taken = domain_disk.fill()?;
    eprintln!("domain disk filled ({} MiB taken)", taken >> 20);
    let domain = &fed.domains[0].orchestrator;
    let mut acknowledged = vec![first.id.clone()];
    let mut failed = false;
    for n in 0..FILL_ORDERS {
        let order = orders::create(&mut client, &format!("domain-full-{n}"), touch(n)).await?;
        acknowledged.push(order.id.clone());
        let id = order.id;
        failed = maestro_testkit::until(
            "the order to complete or the domain's store to fail",
            TIMEOUT,
            async || {
                if has_logged(domain, STORE_FAILED) {
                    return Ok(Some(true));
                }
                let o = orders::get(&mut client, &id).await?;
                Ok((o.state() == OrderState::Completed).then_some(false))
            },
        )
        .await?;
        if failed {
            eprintln!("the domain's store failed at order {n} after the disk filled");
            break;
        }
    }
    anyhow::ensure!(
        failed,
        "{FILL_ORDERS} orders and the domain never failed to write"
    );
    logged(domain, DISK_FULL).await?;
    let held = orders::create(&mut client, "during", add(during)).await?;
    acknowledged.push(held.id.clone());
    anyhow::ensure!(running(before) == 1, "what ran before keeps running");

    domain_disk.free()?;
    logged(domain, RESTARTED).await?;
    for id in &acknowledged {
        let (done, _) = orders::watch_until_final(api, id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
    }
    runs_once(during).await?;
    runs_once(before).await?;

    // Maestro's disk fills: orders go on until one is refused — never acknowledged and then
    // lost.
    let taken = maestro_disk.fill()?;
    eprintln!("maestro disk filled ({} MiB taken)", taken >> 20);
    let mut refused = None;
    for n in 0..FILL_ORDERS {
        let key = format!("maestro-full-{n}");
        let reply = client
            .create_order(maestro_proto::order::v1::CreateOrderRequest {
                idempotency_key: key.clone(),
                order: Some(touch(n)),
            })
            .await;
        match reply {
            Ok(r) => acknowledged.extend(r.into_inner().order.map(|o| o.id)),
            Err(status) => {
                eprintln!(
                    "CreateOrder {n} on a full disk: {:?}: {}",
                    status.code(),
                    status.message()
                );
                anyhow::ensure!(
                    status.code() == tonic::Code::ResourceExhausted
                        && status.message().contains("the disk is full"),
                    "a full disk is RESOURCE_EXHAUSTED naming the cause: {status:?}"
                );
                refused = Some((key, n));
                break;
            }
        }
    }
    let Some((refused_key, n)) = refused else {
        anyhow::bail!("{FILL_ORDERS} orders and maestro never refused one on a full disk");
    };
    logged(&fed.maestro, DISK_FULL).await?;

    maestro_disk.free()?;
    logged(&fed.maestro, RESTARTED).await?;
    let retried = maestro_testkit::until("maestro to take orders again", TIMEOUT, async || {
        Ok(orders::create(&mut client, &refused_key, touch(n))
            .await
            .ok())
    })
    .await?;
    let again = orders::create(&mut client, &refused_key, touch(n)).await?;
    anyhow::ensure!(again.id == retried.id, "the key made a second order");
    acknowledged.push(retried.id);
    let last = orders::create(&mut client, "after", add(after)).await?;
    acknowledged.push(last.id);
    for id in &acknowledged {
        let (done, _) = orders::watch_until_final(api, id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
    }
    for service in [before, during, after] {
        runs_once(service).await?;
    }
    eprintln!(
        "disk full figures: {} orders acknowledged, 0 lost, 0 duplicated",
        acknowledged.len()
    );
    Ok(())
}
