//! Done-when 1 and 2: an order crosses every tier and comes back completed; a modify raises the
//! generation and replaces the processes; a delete removes them.

use maestro_proto::order::v1::{ItemAction, OrderState, ServiceState};
use maestro_testkit::git::{commit_messages, read_file};
use maestro_tests::scenario::{
    catalog, with_logs, workload_cleanup, workloads_per_site as per_site,
};
use maestro_tests::{nodes::ProcessFederation, orders};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_modify_delete_cross_every_tier() -> anyhow::Result<()> {
    let service = format!("lifecycle-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north", "south"],
        2,
    )?;
    with_logs(&fed, scenario(&fed, &service)).await
}

async fn scenario(fed: &ProcessFederation, service: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    orders::wait_domains_ready(&fed.api, &["north", "south"], TIMEOUT).await?;
    eprintln!("domains ready after {:?}", started.elapsed());
    let mut client = orders::order_client(&fed.api)?;

    // 1. add: replicas 2 on both domains.
    let spec = orders::demo_order(ItemAction::Add, service, "hello v1", 2, &["north", "south"]);
    let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
    let (done, states) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    eprintln!("add completed after {:?}", started.elapsed());
    assert_eq!(done.state(), OrderState::Completed, "add order: {done:#?}");
    assert!(
        states.contains(&OrderState::InProgress) || states.len() > 1,
        "watch showed transitions: {states:?}"
    );
    assert!(!done.note.is_empty(), "state changes append notes");
    let item = &done.items[0];
    assert_eq!(item.domains.len(), 2);
    for d in &item.domains {
        assert_eq!(d.service_state(), ServiceState::Active, "{d:?}");
        assert_eq!(d.generation, 1);
        assert_eq!(
            (d.ready, d.total),
            (2, 2),
            "two sites ready in {}",
            d.domain
        );
    }
    for d in &fed.domains {
        let commits = commit_messages(&d.remote, "main")?;
        assert!(
            commits.iter().any(|m| m.contains(service)),
            "{}: {commits:?}",
            d.id
        );
        for s in &d.sites {
            let path = format!("sites/{s}/ProcessDeployment/{service}.json");
            let file = read_file(&d.remote, "main", &path)?.unwrap_or_default();
            let v: serde_json::Value =
                serde_json::from_str(&file).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
            assert_eq!(v["spec"]["replicas"], 2, "{path}");
        }
    }
    let running = per_site(service);
    assert_eq!(running.len(), 4, "processes at four sites: {running:?}");
    for (site, ws) in &running {
        assert_eq!(ws.len(), 2, "two replicas at {site}");
        assert!(ws.iter().all(|w| w.var("DEMO_MESSAGE") == "hello v1"));
    }
    let commits_after_add: Vec<usize> = fed
        .domains
        .iter()
        .map(|d| commit_messages(&d.remote, "main").map(|c| c.len()))
        .collect::<Result<_, _>>()?;

    // 2. modify: replicas 3 and a changed argument.
    let spec = orders::demo_order(
        ItemAction::Modify,
        service,
        "hello v2",
        3,
        &["north", "south"],
    );
    let order = orders::create(&mut client, &format!("{service}-modify"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    eprintln!("modify completed after {:?}", started.elapsed());
    assert_eq!(
        done.state(),
        OrderState::Completed,
        "modify order: {done:#?}"
    );
    assert!(done.items[0].domains.iter().all(|d| d.generation == 2));
    for (d, before) in fed.domains.iter().zip(commits_after_add) {
        assert_eq!(
            commit_messages(&d.remote, "main")?.len(),
            before + 1,
            "one new commit in {}",
            d.id
        );
    }
    let running = per_site(service);
    assert_eq!(running.len(), 4);
    for (site, ws) in &running {
        assert_eq!(ws.len(), 3, "exactly three replicas at {site}: {ws:?}");
        assert!(
            ws.iter().all(|w| w.var("DEMO_MESSAGE") == "hello v2"),
            "only new processes at {site}"
        );
    }

    // 3. delete: processes go, item completed (terminated).
    let spec = orders::demo_order(ItemAction::Delete, service, "", 0, &["north", "south"]);
    let order = orders::create(&mut client, &format!("{service}-delete"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    eprintln!("delete completed after {:?}", started.elapsed());
    assert_eq!(
        done.state(),
        OrderState::Completed,
        "delete order: {done:#?}"
    );
    assert!(
        done.items[0]
            .domains
            .iter()
            .all(|d| d.service_state() == ServiceState::Terminated)
    );
    assert!(per_site(service).is_empty(), "no process left after delete");
    for d in &fed.domains {
        for s in &d.sites {
            let path = format!("sites/{s}/ProcessDeployment/{service}.json");
            assert!(
                read_file(&d.remote, "main", &path)?.is_none(),
                "{path} removed from Git"
            );
        }
    }
    Ok(())
}
