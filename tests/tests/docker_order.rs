//! The Docker reconciler end to end (issue "ColonyOS fidelity ... and a Docker reconciler"): a
//! real Docker Engine (started by `scripts/docker.sh`), a federation of one domain with one site
//! whose agent runs with `reconcilers.docker.mode: "on"`, and the `web-container` catalog entry: an
//! order starts busybox httpd in a container that answers on the ordered port; a modify (image tag 1 -> 2)
//! replaces the container; a delete removes it. Every container of the test's colony is removed
//! when the test ends, however it ends.

use std::time::Duration;

use bollard::Docker;
use docker_reconciler::labels;
use maestro_proto::order::v1::{ItemAction, OrderSpec, OrderState, ServiceState};
use maestro_testkit::docker::{SOCKET, Sweep, SweepGuard, connect, ensure_docker};
use maestro_testkit::net::{free_port, http_get_async};
use maestro_testkit::until;
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_order_add_modify_delete() -> anyhow::Result<()> {
    ensure_docker();
    // A domain name of its own: the site (= colony) name labels the containers, and no other
    // agent on this host may take them for its orphans.
    let domain = format!("dock{}", std::process::id());
    let site = format!("{domain}-1");
    let _cleanup = SweepGuard(Sweep {
        labels: vec![format!("{}={site}", labels::COLONY)],
        ..Sweep::default()
    });
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &[domain.as_str()],
        1,
        |component, _, config| {
            if component == Component::Site {
                config["reconcilers"]["docker"] = json!({"mode": "on", "socket": SOCKET});
            }
        },
    )?;
    with_logs(&fed, scenario(&fed, &domain, &site)).await
}

async fn scenario(fed: &ProcessFederation, domain: &str, site: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let docker = connect().await?;
    orders::wait_domains_ready(&fed.api, &[domain], TIMEOUT).await?;
    let service = format!("web-{}", std::process::id());
    let port = free_port();
    let mut client = orders::order_client(&fed.api)?;

    // 1. add: local/busybox:1 answers on the port.
    let spec = web_order(ItemAction::Add, &service, Some(("1", port)), domain);
    let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    eprintln!("add completed after {:?}", started.elapsed());
    assert_eq!(done.state(), OrderState::Completed, "add order: {done:#?}");
    let d = &done.items[0].domains[0];
    assert_eq!(d.service_state(), ServiceState::Active, "{d:?}");
    assert_eq!((d.ready, d.total), (1, 1), "{d:?}");
    let first = containers(&docker, site, &service).await?;
    assert_eq!(first.len(), 1, "one container: {first:?}");
    assert_eq!(first[0].image, "local/busybox:1");
    assert_eq!(first[0].state, "running");
    assert_eq!(wait_http(port, "1").await?, "1");

    // 2. modify: tag 2 replaces the container.
    let spec = web_order(ItemAction::Modify, &service, Some(("2", port)), domain);
    let order = orders::create(&mut client, &format!("{service}-modify"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    eprintln!("modify completed after {:?}", started.elapsed());
    assert_eq!(
        done.state(),
        OrderState::Completed,
        "modify order: {done:#?}"
    );
    assert_eq!(done.items[0].domains[0].generation, 2);
    let second = containers(&docker, site, &service).await?;
    assert_eq!(second.len(), 1, "still one container: {second:?}");
    assert_ne!(second[0].id, first[0].id, "the container was replaced");
    assert_eq!(second[0].image, "local/busybox:2");
    assert_eq!(wait_http(port, "2").await?, "2");

    // 3. delete: the container goes.
    let spec = web_order(ItemAction::Delete, &service, None, domain);
    let order = orders::create(&mut client, &format!("{service}-delete"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    eprintln!("delete completed after {:?}", started.elapsed());
    assert_eq!(
        done.state(),
        OrderState::Completed,
        "delete order: {done:#?}"
    );
    assert_eq!(
        done.items[0].domains[0].service_state(),
        ServiceState::Terminated
    );
    let left = containers(&docker, site, &service).await?;
    assert!(left.is_empty(), "no container left after delete: {left:?}");
    Ok(())
}

/// A one-item order of `web-container` on `domain`; `chars` = (tag, port), None for a delete.
fn web_order(
    action: ItemAction,
    service: &str,
    chars: Option<(&str, u16)>,
    domain: &str,
) -> OrderSpec {
    let chars = match chars {
        Some((tag, port)) => vec![("tag", json!(tag)), ("port", json!(port))],
        None => Vec::new(),
    };
    orders::service_order("web-container", action, service, &chars, &[domain])
}

/// One container as the test sees it.
#[derive(Debug)]
struct Seen {
    id: String,
    image: String,
    state: String,
}

/// The containers of blueprint `service` in colony `site`.
async fn containers(docker: &Docker, site: &str, service: &str) -> anyhow::Result<Vec<Seen>> {
    let filters = [
        ("label", format!("{}={site}", labels::COLONY)),
        ("label", format!("{}={service}", labels::BLUEPRINT)),
    ];
    let list = maestro_testkit::docker::containers(docker, &filters).await?;
    Ok(list
        .into_iter()
        .map(|c| Seen {
            id: c.id.unwrap_or_default(),
            image: c.image.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        })
        .collect())
}

/// `GET /version` on 127.0.0.1:`port` until it answers `want` (the order completes when the
/// container runs; httpd may take a moment to bind, and it has no other readiness signal).
async fn wait_http(port: u16, want: &str) -> anyhow::Result<String> {
    let mut last = None;
    let found = until(
        format!("port {port} to serve version {want:?}"),
        Duration::from_secs(30),
        async || {
            let got = http_get_async(port, "/version").await;
            if let Some(body) = &got
                && body.trim() == want
            {
                return Ok(Some(body.trim().to_string()));
            }
            last = got.or(last.take());
            Ok(None)
        },
    )
    .await;
    found.map_err(|e| anyhow::anyhow!("{e} (last answer {last:?})"))
}
