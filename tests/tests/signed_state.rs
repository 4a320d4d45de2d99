//! Signed desired state, end to end: the site fetches from a Git server the test controls (the
//! domain publishes to its own repository), and that server turns hostile. It adds an unsigned
//! blueprint (also to the site's checksums file), alters a signed file, replays an older signed commit, serves a newer commit only
//! once its manifest expired, withholds every new commit, and finally disappears. Each time the
//! site refuses with the reason (or says its desired state is stale), the order in progress shows
//! `site north-1: …` with it, and the processes the site runs stay exactly the same; once the
//! server is honest again the order completes. A restart of the site does not let a replayed
//! commit through: the version it applied is durable.

use maestro_common::manifest::{MANIFEST_FILE, Manifest};
use maestro_proto::order::v1::{ItemAction, OrderState, ServiceOrder};
use maestro_tests::git_server::GitServer;
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup, workloads_per_site};
use std::path::Path;
use std::time::Duration;
use tonic::transport::Channel;

const TIMEOUT: Duration = Duration::from_secs(90);
/// Short-lived manifests, so expiry happens within the test (renewed 4 s before they expire).
const VALIDITY_SECS: u64 = 8;
const RENEW_BEFORE_SECS: u64 = 4;

type Client = maestro_proto::order::v1::order_service_client::OrderServiceClient<Channel>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromised_git_server_cannot_change_what_a_site_runs() -> anyhow::Result<()> {
    let service = format!("signed-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let _evil_cleanup = workload_cleanup(&format!("{service}-evil"));
    let dir = tempfile::tempdir()?;
    let server = GitServer::new(
        &dir.path().join("north/remote.git"),
        &dir.path().join("north/served.git"),
    )?;
    let served = server.served.clone();
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
        |component, _, config| match component {
            Component::Domain => {
                config["signing"]["validity_secs"] = VALIDITY_SECS.into();
                config["signing"]["renew_before_secs"] = RENEW_BEFORE_SECS.into();
            }
            Component::Site => config["git_remote"] = served.display().to_string().into(),
            _ => {}
        },
    )?;
    let mut fed = fed;
    let result = scenario(&mut fed, &server, &service, dir.path()).await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}

/// Everything the site reports in the order, as people read it.
fn site_text(order: &ServiceOrder) -> String {
    order
        .items
        .iter()
        .flat_map(|i| &i.domains)
        .flat_map(|d| &d.sites)
        .map(|s| s.message.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Runs order `spec` to completion while the server forwards honestly.
async fn complete(
    client: &mut Client,
    server: &GitServer,
    key: &str,
    spec: maestro_proto::order::v1::OrderSpec,
) -> anyhow::Result<()> {
    let order = orders::create(client, key, spec).await?;
    let done = orders::get_until(client, &order.id, "completed", TIMEOUT, |o| {
        let _ = server.forward();
        o.state() == OrderState::Completed
    })
    .await?;
    assert_eq!(done.state(), OrderState::Completed);
    Ok(())
}

/// The pids of `service`'s processes, checked to run `message`.
fn running(service: &str, message: &str) -> Vec<u32> {
    let per_site = workloads_per_site(service);
    let ws = per_site.get("north-1").cloned().unwrap_or_default();
    assert!(
        !ws.is_empty() && ws.iter().all(|w| w.var("DEMO_MESSAGE") == message),
        "{service} runs {message}: {per_site:?}"
    );
    let mut pids: Vec<u32> = ws.iter().map(|w| w.pid).collect();
    pids.sort_unstable();
    pids
}

fn short(commit: &str) -> &str {
    &commit[..8]
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

    // An honest server: v1, then v2, each applied and completed.
    complete(
        &mut client,
        server,
        &format!("{service}-v1"),
        order("v1", ItemAction::Add),
    )
    .await?;
    let v1_commit = server.head()?.expect("served");
    complete(
        &mut client,
        server,
        &format!("{service}-v2"),
        order("v2", ItemAction::Modify),
    )
    .await?;
    let head = server.forward()?.expect("served");
    let site_log = dir.join("north/sites/north-1/log.txt");
    maestro_testkit::until("the site accepts the served head", TIMEOUT, async || {
        let log = std::fs::read_to_string(&site_log).unwrap_or_default();
        Ok(log
            .lines()
            .any(|l| l.contains("accepted a signed manifest") && l.contains(&head))
            .then_some(()))
    })
    .await?;
    let pids = running(service, "v2");
    let path = format!("sites/north-1/ProcessDeployment/{service}.json");

    // From here on the server is hostile. An order for v3 stays in progress and shows why.
    let v3 = orders::create(
        &mut client,
        &format!("{service}-v3"),
        order("v3", ItemAction::Modify),
    )
    .await?;
    let refused = async |client: &mut Client, commit: &str, reason: &str| -> anyhow::Result<()> {
        let want = format!("site north-1: refused commit {}: {reason}", short(commit));
        let o = orders::get_until(client, &v3.id, &want, TIMEOUT, |o| {
            site_text(o).contains(&want)
        })
        .await?;
        assert_eq!(o.state(), OrderState::InProgress, "{o:#?}");
        assert_eq!(
            running(service, "v2"),
            pids,
            "{want}: the site runs exactly what it ran"
        );
        assert!(workloads_per_site(&format!("{service}-evil")).is_empty());
        Ok(())
    };

    // (a) An unsigned blueprint added next to the signed ones.
    let evil_path = format!("sites/north-1/ProcessDeployment/{service}-evil.json");
    let files = server.files(&head)?;
    let mut evil: serde_json::Value = serde_json::from_slice(&files[&path])?;
    evil["metadata"]["name"] = format!("{service}-evil").into();
    let added = server.forge(&head, |f| {
        f.insert(
            evil_path.clone(),
            serde_json::to_vec(&evil).unwrap_or_default(),
        );
    })?;
    refused(
        &mut client,
        &added,
        &format!("file {evil_path} is not in the manifest"),
    )
    .await?;

    // ... also listed in the site's checksums file: that file no longer matches the manifest.
    let listed = server.forge(&head, |f| {
        let content = serde_json::to_vec(&evil).unwrap_or_default();
        let checksums = maestro_common::manifest::checksums_path("north-1");
        let mut text = String::from_utf8_lossy(&f[&checksums]).into_owned();
        text.push_str(&format!(
            "{}  {evil_path}\n",
            maestro_common::manifest::sha256_hex(&content)
        ));
        f.insert(checksums, text.into_bytes());
        f.insert(evil_path.clone(), content);
    })?;
    let checksums = maestro_common::manifest::checksums_path("north-1");
    refused(
        &mut client,
        &listed,
        &format!("file {checksums} does not match the manifest (hash mismatch)"),
    )
    .await?;

    // ... or a whole commit without any signature.
    let unsigned = server.forge(&head, |f| {
        f.remove(MANIFEST_FILE);
        f.remove(maestro_common::manifest::SIGNATURES_FILE);
        f.insert(
            evil_path.clone(),
            serde_json::to_vec(&evil).unwrap_or_default(),
        );
    })?;
    refused(
        &mut client,
        &unsigned,
        "unsigned: manifest missing (not in the commit)",
    )
    .await?;

    // (b) A signed file altered.
    let altered = server.forge(&head, |f| {
        let text = String::from_utf8_lossy(&f[&path]).replace("v2", "pwned");
        f.insert(path.clone(), text.into_bytes());
    })?;
    refused(
        &mut client,
        &altered,
        &format!("file {path} does not match the manifest (hash mismatch)"),
    )
    .await?;

    // (c) An older signed commit replayed (the branch forced back to v1).
    server.serve(&v1_commit)?;
    refused(&mut client, &v1_commit, "rollback: manifest version ").await?;
    let o = orders::get(&mut client, &v3.id).await?;
    assert!(
        site_text(&o).contains("is older than the applied version"),
        "{}",
        site_text(&o)
    );
    // The version the site applied is durable: a restart does not let the replay through.
    let refusals = |commit: &str| {
        let log =
            std::fs::read_to_string(dir.join("north/sites/north-1/log.txt")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("refused a commit") && l.contains(commit))
            .count()
    };
    let site = &mut fed.domain("north").site_agents[0];
    site.stop()?;
    let before = refusals(&v1_commit);
    site.start()?;
    maestro_testkit::until(
        "the restarted site refuses the replay again",
        TIMEOUT,
        async || Ok((refusals(&v1_commit) > before).then_some(())),
    )
    .await?;
    assert_eq!(running(service, "v2"), pids, "still v2 after the restart");

    // (d) A newer signed commit (v3) withheld until its manifest expired, then served.
    let newer = maestro_testkit::until("the domain publishes v3", TIMEOUT, async || {
        let Some(real) = server.real_head()? else {
            return Ok(None);
        };
        let has_v3 = server
            .files(&real)?
            .get(&path)
            .is_some_and(|f| String::from_utf8_lossy(f).contains("v3"));
        Ok(has_v3.then_some(real))
    })
    .await?;
    let manifest = Manifest::parse(&server.files(&newer)?[MANIFEST_FILE])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    maestro_testkit::until("the v3 manifest expires", TIMEOUT, async || {
        Ok((maestro_common::time::now_millis() > manifest.expires_at_ms).then_some(()))
    })
    .await?;
    server.serve(&newer)?;
    refused(&mut client, &newer, "manifest expired at ").await?;

    // (e) Every new commit withheld: the server keeps serving what the site runs. Once its
    // manifest expired the site says its desired state is stale, and keeps running.
    server.serve(&head)?;
    let want = "site north-1: desired state stale since ";
    let o = orders::get_until(&mut client, &v3.id, want, TIMEOUT, |o| {
        site_text(o).contains(want)
    })
    .await?;
    assert!(site_text(&o).contains(&format!("of commit {} expired", short(&head))));
    assert_eq!(running(service, "v2"), pids, "a stale site keeps running");

    // The server gone altogether (the site is cut off from Git): still running, and still stale.
    let gone = server.served.with_extension("gone");
    std::fs::rename(&server.served, &gone)?;
    let want = "site north-1: git fetch failed: ";
    let o = orders::get_until(&mut client, &v3.id, want, TIMEOUT, |o| {
        site_text(o).contains(want) && site_text(o).contains("desired state stale since ")
    })
    .await?;
    assert_eq!(o.state(), OrderState::InProgress);
    assert_eq!(
        running(service, "v2"),
        pids,
        "a site without Git keeps running"
    );
    std::fs::rename(&gone, &server.served)?;

    // An honest server again: v3 is applied and the order completes.
    let done = orders::get_until(&mut client, &v3.id, "completed", TIMEOUT, |o| {
        let _ = server.forward();
        o.state() == OrderState::Completed
    })
    .await?;
    assert_eq!(done.state(), OrderState::Completed);
    running(service, "v3");
    Ok(())
}
