//! Key rotation end to end: a domain moves from key A to key B with two config changes of its
//! own (`maestroctl keys rotate`), and no site is reconfigured: the site, which pins only A,
//! accepts the announced set {B} (signed by A, the current set, and by B, the new one), applies
//! what B alone signs from then on, and refuses a commit A alone signed, also after a restart.

use maestro_common::manifest::{
    KeySet, MANIFEST_FILE, Manifest, SIGNATURES_FILE, Signatures, SigningKey,
};
use maestro_proto::order::v1::{ItemAction, OrderState, ServiceOrder};
use maestro_tests::git_server::GitServer;
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_rotates_its_key_without_touching_any_site() -> anyhow::Result<()> {
    let service = format!("rotate-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let server = GitServer::new(
        &dir.path().join("north/remote.git"),
        &dir.path().join("north/served.git"),
    )?;
    let served = server.served.clone();
    let mut fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
        |component, _, config| {
            if component == Component::Site {
                config["git_remote"] = served.display().to_string().into();
            }
        },
    )?;
    let result = scenario(&mut fed, &server, &service, dir.path()).await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}

fn site_text(order: &ServiceOrder) -> String {
    let sites = order
        .items
        .iter()
        .flat_map(|i| &i.domains)
        .flat_map(|d| &d.sites);
    sites
        .map(|s| s.message.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn pids(service: &str, message: &str) -> Vec<u32> {
    let ws = workloads_per_site(service)
        .remove("north-1")
        .unwrap_or_default();
    assert!(
        !ws.is_empty() && ws.iter().all(|w| w.var("DEMO_MESSAGE") == message),
        "{service} runs {message}"
    );
    let mut pids: Vec<u32> = ws.iter().map(|w| w.pid).collect();
    pids.sort_unstable();
    pids
}

/// Rewrites the domain's `signing` section and restarts it.
fn reconfigure(
    fed: &mut ProcessFederation,
    dir: &Path,
    signing: serde_json::Value,
) -> anyhow::Result<()> {
    let path = dir.join("north/orchestrator/config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    config["signing"] = signing;
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    let domain = fed.domain("north");
    domain.orchestrator.stop()?;
    domain.orchestrator.start()
}

/// Lines of the site's log that contain every one of `parts`.
fn log_lines(dir: &Path, parts: &[&str]) -> usize {
    let log = std::fs::read_to_string(dir.join("north/sites/north-1/log.txt")).unwrap_or_default();
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

async fn scenario(
    fed: &mut ProcessFederation,
    server: &GitServer,
    service: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
    let mut client = orders::order_client(&fed.api)?;
    let order = |msg: &str, action| orders::demo_order(action, service, msg, 1, &["north"]);
    let key_a = fed.domain("north").signing.clone();
    let site_config = std::fs::read(dir.join("north/sites/north-1/config.json"))?;

    let v1 = orders::create(
        &mut client,
        &format!("{service}-v1"),
        order("v1", ItemAction::Add),
    )
    .await?;
    orders::get_until(&mut client, &v1.id, "completed", TIMEOUT, |o| {
        let _ = server.forward();
        o.state() == OrderState::Completed
    })
    .await?;

    // 1. Announce {B}: the domain signs with A and B.
    let keys = dir.join("keys");
    let key_b = maestro_cli::keys::generate(&keys, "north-b", false).map_err(anyhow::Error::msg)?;
    let section = maestro_cli::keys::rotation_section(
        &[key_a.private.clone(), key_b.private.clone()],
        std::slice::from_ref(&key_b.public_file),
        1,
    )
    .map_err(anyhow::Error::msg)?;
    reconfigure(fed, dir, section["signing"].clone())?;
    maestro_testkit::until("the site accepts the key set {B}", TIMEOUT, async || {
        let _ = server.forward();
        Ok((log_lines(dir, &["accepted a new signing key set"]) > 0).then_some(()))
    })
    .await?;

    // 2. Retire A: the domain signs with B alone; the site, still pinning A only, follows.
    reconfigure(fed, dir, serde_json::json!({"keys": [key_b.private]}))?;
    orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
    let v2 = orders::create(
        &mut client,
        &format!("{service}-v2"),
        order("v2", ItemAction::Modify),
    )
    .await?;
    orders::get_until(&mut client, &v2.id, "completed", TIMEOUT, |o| {
        let _ = server.forward();
        o.state() == OrderState::Completed
    })
    .await?;
    let running = pids(service, "v2");
    assert_eq!(
        std::fs::read(dir.join("north/sites/north-1/config.json"))?,
        site_config,
        "the site was not reconfigured"
    );

    // 3. A alone no longer counts: a commit A signed (a perfectly formed manifest, a higher
    // version) is refused, and still after the site restarts.
    let head = server.head()?.expect("served");
    let current =
        Manifest::parse(&server.files(&head)?[MANIFEST_FILE]).map_err(anyhow::Error::msg)?;
    let old = SigningKey::load(&key_a.private)?;
    let path = format!("sites/north-1/ProcessDeployment/{service}.json");
    let forged = server.forge(&head, |files| {
        let text = String::from_utf8_lossy(&files[&path]).replace("v2", "pwned");
        files.insert(path.clone(), text.into_bytes());
        let covered: Vec<(String, Vec<u8>)> = files
            .iter()
            .filter(|(p, _)| p.starts_with("sites/") || p.starts_with("definitions/"))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect();
        let now = maestro_common::time::now_millis();
        let set = KeySet {
            threshold: 1,
            keys: vec![old.public()],
        };
        let manifest = Manifest::of_files(
            "north",
            current.version + 100,
            now,
            now + 3_600_000,
            set,
            covered.iter().map(|(p, c)| (p, c.as_slice())),
        )
        .to_bytes();
        let sigs = Signatures::sign(&manifest, std::slice::from_ref(&old)).to_bytes();
        files.insert(MANIFEST_FILE.into(), manifest);
        files.insert(SIGNATURES_FILE.into(), sigs);
    })?;
    let v3 = orders::create(
        &mut client,
        &format!("{service}-v3"),
        order("v3", ItemAction::Modify),
    )
    .await?;
    let want = format!(
        "site north-1: refused commit {}: signature invalid: 0 valid signature(s) of trusted keys, 1 required",
        &forged[..8]
    );
    let o = orders::get_until(&mut client, &v3.id, &want, TIMEOUT, |o| {
        site_text(o).contains(&want)
    })
    .await?;
    assert_eq!(o.state(), OrderState::InProgress);
    assert_eq!(
        pids(service, "v2"),
        running,
        "nothing A alone signed is applied"
    );
    let site = &mut fed.domain("north").site_agents[0];
    site.stop()?;
    let before = log_lines(dir, &["refused a commit", &forged]);
    site.start()?;
    maestro_testkit::until(
        "the restarted site refuses A's commit again",
        TIMEOUT,
        async || Ok((log_lines(dir, &["refused a commit", &forged]) > before).then_some(())),
    )
    .await?;
    assert_eq!(pids(service, "v2"), running);

    // 4. B's commits still apply after the restart.
    orders::get_until(&mut client, &v3.id, "completed", TIMEOUT, |o| {
        let _ = server.forward();
        o.state() == OrderState::Completed
    })
    .await?;
    pids(service, "v3");
    Ok(())
}
