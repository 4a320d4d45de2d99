//! The federation across real links: network namespaces as hosts — the central tier (maestro),
//! a domain (its orchestrator, log server and an HTTPS Git server), and two sites behind NAT
//! (masquerade on the router; nothing may open a connection into a site) — with mutual TLS on
//! every gRPC hop and Git over HTTPS with a token. The order lifecycle runs over those links; a
//! site whose link goes down is shown unreachable with its age and converges once it is back.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use maestro_proto::order::v1::{ItemAction, OrderState, ServiceOrder};
use maestro_testkit::binary::Node;
use maestro_testkit::git_servers::HttpsGitServer;
use maestro_tests::api::MaestroApi;
use maestro_tests::hosts::{
    DOMAIN_IP, Hosts, MAESTRO_IP, Pki, build_hosts, listening, make_pki, node, site_ip, tls,
};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);
const SITES: [&str; 2] = ["north-1", "north-2"];

/// Runs an async step in the central namespace, as the operator.
fn at_central<T, Fut>(
    hosts: &Hosts,
    api: &MaestroApi,
    step: impl FnOnce(MaestroApi) -> Fut + Send + 'static,
) -> anyhow::Result<T>
where
    T: Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let api = api.clone();
    hosts.central.block_on(move || step(api))?
}

/// Places an order and follows it to its end, from the central namespace.
fn run_order(
    hosts: &Hosts,
    api: &MaestroApi,
    key: String,
    action: ItemAction,
    service: &str,
    replicas: i64,
) -> anyhow::Result<ServiceOrder> {
    let service = service.to_string();
    at_central(hosts, api, move |api| async move {
        let mut client = orders::order_client(&api)?;
        let spec = orders::demo_order(action, &service, "over the wire", replicas, &["north"]);
        let order = orders::create(&mut client, &key, spec).await?;
        let (done, _) = orders::watch_until_final(&api, &order.id, TIMEOUT).await?;
        Ok(done)
    })
}

fn replicas_per_site(service: &str) -> Vec<(String, usize)> {
    workloads_per_site(service)
        .into_iter()
        .map(|(site, ws)| (site, ws.len()))
        .collect()
}

#[test]
fn an_order_crosses_real_links_with_mutual_tls_and_sites_behind_nat() -> anyhow::Result<()> {
    let service = format!("wire-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let hosts = build_hosts(SITES.len())?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let pki = make_pki(&d.join("pki"), &SITES)?;
    let rt = tokio::runtime::Runtime::new()?;
    let domain_ip: IpAddr = DOMAIN_IP.parse()?;
    let git = rt.block_on(HttpsGitServer::start_in(Some(&hosts.north), domain_ip))?;
    git.create_repo("north")?;
    let token = git.password_file("north-token", &git.password)?;
    let git_settings = json!({
        "ca": git.ca.cert, "username": git.username, "password_file": token, "timeout_secs": 5,
    });

    let maestro_url = format!("https://{MAESTRO_IP}:7200");
    let log_url = format!("https://{DOMAIN_IP}:7400");
    let _maestro = node(
        maestro_tests::node_bin!(),
        &hosts.central,
        "maestro",
        "maestro",
        &d.join("maestro"),
        json!({
            "listen": format!("{MAESTRO_IP}:7200"),
            "data_dir": d.join("maestro/data"),
            "catalog_dir": catalog(),
            "domain_unreachable_after_ms": 5000,
            "fanout_backoff_min_ms": 100,
            "fanout_backoff_max_ms": 1000,
            "tls": tls(&pki.maestro)?,
            "operator_policy": pki.policy,
        }),
    )?;
    let _logs = node(
        maestro_tests::node_bin!(),
        &hosts.north,
        "log-server north",
        "log-server",
        &d.join("log-server"),
        json!({
            "listen": format!("{DOMAIN_IP}:7400"),
            "data_dir": d.join("log-server/data"),
            "domain": "north",
            "tls": tls(&pki.north)?,
        }),
    )?;
    let signing = maestro_cli::dev::pki::signing_key(d, "north")?;
    let _domain = node(
        maestro_tests::node_bin!(),
        &hosts.north,
        "domain north",
        "domain",
        &d.join("domain"),
        json!({
            "domain": "north",
            "listen": format!("{DOMAIN_IP}:7300"),
            "advertise": format!("https://{DOMAIN_IP}:7300"),
            "data_dir": d.join("domain/data"),
            "git_remote": git.url("north"),
            "git": git_settings,
            "sites": SITES,
            "region": "north",
            "log_server": log_url,
            "maestro": maestro_url,
            "heartbeat_interval_ms": 500,
            "site_unreachable_after_ms": 3000,
            "tls": tls(&pki.north)?,
            "signing": {"keys": [signing.private]},
        }),
    )?;
    let mut site_nodes = Vec::new();
    for (i, site) in SITES.iter().enumerate() {
        site_nodes.push(node(
            maestro_tests::node_bin!(),
            &hosts.sites[i],
            &format!("site {site}"),
            "site",
            &d.join(site),
            json!({
                "domain": "north",
                "site": site,
                "data_dir": d.join(site).join("data"),
                "git_remote": git.url("north"),
                "git": git_settings,
                "sync_interval_ms": 300,
                "noticed_sync_interval_ms": 300,
                "log_server": log_url,
                "heartbeat_interval_ms": 500,
                "tls": tls(&pki.sites[i])?,
                "signing": {"keys": [signing.public]},
            }),
        )?);
    }
    let logs = || {
        let mut all = vec![_maestro.log_tail(), _domain.log_tail(), _logs.log_tail()];
        all.extend(site_nodes.iter().map(Node::log_tail));
        all.join("\n----\n")
    };
    let api = MaestroApi::tls(maestro_url.clone(), &pki.operator)?;
    let result = scenario(&hosts, &api, &service, &git, &pki);
    if result.is_err() {
        eprintln!("{}", logs());
    }
    result
}

fn scenario(
    hosts: &Hosts,
    api: &MaestroApi,
    service: &str,
    git: &HttpsGitServer,
    pki: &Pki,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    at_central(hosts, api, |api| async move {
        orders::wait_domains_ready(&api, &["north"], TIMEOUT).await
    })?;
    eprintln!("north ready after {:?}", started.elapsed());

    // Add, then modify, over the links.
    let done = run_order(
        hosts,
        api,
        format!("{service}-add"),
        ItemAction::Add,
        service,
        1,
    )?;
    anyhow::ensure!(done.state() == OrderState::Completed, "add: {done:#?}");
    eprintln!("add completed after {:?}", started.elapsed());
    anyhow::ensure!(
        replicas_per_site(service) == vec![("north-1".into(), 1), ("north-2".into(), 1)],
        "one replica at each site: {:?}",
        replicas_per_site(service)
    );
    let done = run_order(
        hosts,
        api,
        format!("{service}-mod"),
        ItemAction::Modify,
        service,
        2,
    )?;
    anyhow::ensure!(done.state() == OrderState::Completed, "modify: {done:#?}");
    anyhow::ensure!(
        replicas_per_site(service) == vec![("north-1".into(), 2), ("north-2".into(), 2)],
        "two replicas at each site: {:?}",
        replicas_per_site(service)
    );
    // The domain pushed over HTTPS and the sites fetched over it.
    let access = std::fs::read_to_string(git.dir().join("nginx-access.log"))?;
    anyhow::ensure!(access.contains("git-receive-pack") && access.contains("git-upload-pack"));
    anyhow::ensure!(
        !access.contains("192.168."),
        "the sites reach the Git server only through NAT (as the router): {access}"
    );

    // North-1's link goes down: shown unreachable, with when it was last heard.
    hosts.wan.ip(["link", "set", "ws1", "down"])?;
    let cut = std::time::Instant::now();
    let order = at_central(hosts, api, {
        let service = service.to_string();
        move |api| async move {
            let mut client = orders::order_client(&api)?;
            let spec =
                orders::demo_order(ItemAction::Modify, &service, "over the wire", 3, &["north"]);
            let order = orders::create(&mut client, &format!("{service}-cut"), spec).await?;
            orders::get_until(
                &mut client,
                &order.id,
                "north-1 unreachable",
                TIMEOUT,
                |o| {
                    o.items[0].domains.iter().any(|d| {
                        d.sites
                            .iter()
                            .any(|s| s.site == "north-1" && s.unreachable && s.last_heard.is_some())
                    })
                },
            )
            .await
        }
    })?;
    anyhow::ensure!(
        !orders::is_final(order.state()),
        "not final while cut off: {order:#?}"
    );
    eprintln!(
        "north-1 shown unreachable {:?} after its link went down",
        cut.elapsed()
    );
    let shown = maestroctl(hosts, api, pki, &["order", "get", &order.id])?;
    anyhow::ensure!(
        shown.contains("north-1") && shown.contains("unreachable") && shown.contains(" ago"),
        "maestroctl shows north-1 unreachable with its age:\n{shown}"
    );

    // Back: it converges, and the order completes with three replicas at both sites.
    hosts.wan.ip(["link", "set", "ws1", "up"])?;
    let back = std::time::Instant::now();
    let done = at_central(hosts, api, {
        let id = order.id.clone();
        move |api| async move { Ok(orders::watch_until_final(&api, &id, TIMEOUT).await?.0) }
    })?;
    anyhow::ensure!(
        done.state() == OrderState::Completed,
        "after the link is back: {done:#?}"
    );
    eprintln!("completed {:?} after the link came back", back.elapsed());
    anyhow::ensure!(
        replicas_per_site(service) == vec![("north-1".into(), 3), ("north-2".into(), 3)],
        "three replicas at each site: {:?}",
        replicas_per_site(service)
    );

    // Nothing in a site accepts a connection from outside it.
    for (i, ns) in hosts.sites.iter().enumerate() {
        let sockets = listening(ns)?;
        anyhow::ensure!(!sockets.is_empty(), "the site's colony listens");
        for s in &sockets {
            anyhow::ensure!(s.ip().is_loopback(), "{} listens on {s}", SITES[i]);
            let target = SocketAddr::new(site_ip(i).parse()?, s.port());
            let reached = hosts.north.block_on(move || async move {
                tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::net::TcpStream::connect(target),
                )
                .await
                .is_ok_and(|c| c.is_ok())
            })?;
            anyhow::ensure!(!reached, "the domain opened a connection to {target}");
        }
    }

    // Delete: everything goes.
    let done = run_order(
        hosts,
        api,
        format!("{service}-del"),
        ItemAction::Delete,
        service,
        0,
    )?;
    anyhow::ensure!(done.state() == OrderState::Completed, "delete: {done:#?}");
    anyhow::ensure!(replicas_per_site(service).is_empty(), "no workload left");
    Ok(())
}

/// Runs `maestroctl ARGS` (the test build, `maestro-node`) in the central namespace as the operator.
fn maestroctl(hosts: &Hosts, api: &MaestroApi, pki: &Pki, args: &[&str]) -> anyhow::Result<String> {
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let op = &pki.operator;
    let mut all = vec![
        "--maestro".to_string(),
        api.url().to_string(),
        "--tls-ca".into(),
        path(&op.ca),
        "--tls-cert".into(),
        path(&op.cert),
        "--tls-key".into(),
        path(&op.key),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    hosts
        .central
        .exec(maestro_tests::node_bin!().to_str().unwrap_or_default(), all)
}
