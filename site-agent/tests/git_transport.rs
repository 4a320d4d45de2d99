//! The site agent fetching from real Git servers: its mirror over HTTPS (basic auth, a custom
//! CA) and SSH (deploy key, pinned host key), a silent server failing the fetch within the
//! timeout, and the whole agent converging from an HTTPS remote without the secret reaching its
//! records or its Git config.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use common::*;
use maestro_git_transport::{GitSettings, RemoteAccess};
use maestro_proto::logs::v1::record;
use maestro_testkit::git::TestRepo;
use maestro_testkit::git_servers::{Blackhole, HttpsGitServer, SshGitServer};
use site_agent::gitsync::GitMirror;

const SITE: &str = "plant-1";

/// Pushes `main` of `repo` into the bare repository at `server_repo` (a local path push).
fn publish(repo: &TestRepo, server_repo: &Path) -> Result<()> {
    let local = git2::Repository::open_bare(repo.dir.path())?;
    let mut remote = local.remote_anonymous(&server_repo.display().to_string())?;
    remote.push(&["+refs/heads/main:refs/heads/main"], None)?;
    Ok(())
}

fn https_settings(server: &HttpsGitServer, password: &str) -> GitSettings {
    GitSettings {
        ca: Some(server.ca.cert.clone()),
        username: Some(server.username.clone()),
        password_file: Some(server.password_file("site-token", password).unwrap()),
        ..GitSettings::default()
    }
}

fn mirror(dir: &Path, url: &str, settings: &GitSettings) -> GitMirror {
    settings.validate_for("git", "git_remote", url).unwrap();
    let access = RemoteAccess::new(url, settings).unwrap();
    GitMirror::new(dir, url, "main").with_access(access)
}

fn one_commit() -> Result<(TestRepo, String)> {
    let mut repo = TestRepo::new()?;
    repo.put("sites/plant-1/ConfigFile/a.json", "{}");
    let commit = repo.commit("one")?;
    Ok((repo, commit))
}

#[tokio::test]
async fn the_mirror_fetches_over_https_with_basic_auth_and_a_custom_ca() -> Result<()> {
    let server = HttpsGitServer::start().await?;
    let (repo, commit) = one_commit()?;
    publish(&repo, &server.create_repo("north")?)?;
    let dir = tempfile::tempdir()?;
    let m = mirror(
        dir.path(),
        &server.url("north"),
        &https_settings(&server, &server.password),
    );
    assert_eq!(m.fetch()?, Some(commit));
    let config = std::fs::read_to_string(dir.path().join("config"))?;
    assert!(!config.contains(&server.password), "{config}");
    Ok(())
}

#[tokio::test]
async fn the_mirror_fetches_over_ssh_with_a_pinned_host_key() -> Result<()> {
    let server = SshGitServer::start().await?;
    let (repo, commit) = one_commit()?;
    publish(&repo, &server.create_repo("north")?)?;
    let settings = GitSettings {
        ssh_key: Some(server.deploy_key.clone()),
        known_hosts: Some(server.known_hosts.clone()),
        ..GitSettings::default()
    };
    let dir = tempfile::tempdir()?;
    let m = mirror(dir.path(), &server.url("north"), &settings);
    assert_eq!(m.fetch()?, Some(commit));

    let unpinned = GitSettings {
        known_hosts: Some(server.wrong_known_hosts()?),
        ..settings
    };
    let other = tempfile::tempdir()?;
    let err = mirror(other.path(), &server.url("north"), &unpinned)
        .fetch()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Host key verification failed") || err.contains("HOST IDENTIFICATION"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_silent_server_fails_the_fetch_within_the_timeout() -> Result<()> {
    let hole = Blackhole::start()?;
    let url = format!("https://127.0.0.1:{}/git/north.git", hole.port());
    let settings = GitSettings {
        timeout_secs: 2,
        deadline_secs: 4,
        ..GitSettings::default()
    };
    let dir = tempfile::tempdir()?;
    let m = mirror(dir.path(), &url, &settings);
    let started = Instant::now();
    let err = m.fetch().unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(15), "{err}");
    assert!(err.contains(&url), "{err}");
    assert_eq!(m.last_fetched()?, None);
    Ok(())
}

fn https_agent_config(
    dir: &Path,
    server: &HttpsGitServer,
    password: &str,
    logs: &LogServer,
) -> site_agent::Config {
    let url = server.url("north");
    let mut config = agent_config(dir, SITE, &url, &logs.endpoint());
    config.git = https_settings(server, password);
    config
}

fn mentions(r: &maestro_proto::logs::v1::Record, text: &str) -> bool {
    format!("{r:?}").contains(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_converges_from_an_https_remote_and_keeps_the_secret_to_itself() -> Result<()> {
    let guard = workload_guard();
    let server = HttpsGitServer::start().await?;
    let intent = maestro_common::ids::intent_id("web", "north");
    let mut repo = TestRepo::new()?;
    repo.put(
        &format!("sites/{SITE}/ProcessDeployment/web.json"),
        process_blueprint("web", &intent, 1, 1, &["3600"], &guard.value),
    );
    repo.commit(&format!(
        "maestro: web gen 1 (order order-1, intent {intent})"
    ))?;
    publish(&repo, &server.create_repo("north")?)?;

    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let agent = Agent::start(https_agent_config(&dir, &server, &server.password, &logs)).await?;
    logs.wait_for("converged gen 1", |r| is_converged(r, "web", 1, 1))
        .await?;
    logs.drain();
    assert!(!logs.seen.iter().any(|r| mentions(r, &server.password)));
    let config = std::fs::read_to_string(dir.join(site_agent::GIT_DIR).join("config"))?;
    assert!(!config.contains(&server.password), "{config}");
    teardown(agent, &dir, &guard).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_naming_the_remote_and_not_the_secret() -> Result<()> {
    let server = HttpsGitServer::start().await?;
    let (repo, _) = one_commit()?;
    publish(&repo, &server.create_repo("north")?)?;
    let mut logs = LogServer::start().await?;
    let (_tmp, dir) = data_dir()?;
    let secret = "wrong-s3cret";
    let agent = Agent::start(https_agent_config(&dir, &server, secret, &logs)).await?;
    let url = server.url("north");
    let rec = logs
        .wait_for("the failed fetch reported", |r| {
            matches!(&r.body, Some(record::Body::Log(_))) && mentions(r, "git fetch failed")
        })
        .await?;
    assert!(mentions(&rec, &url) && mentions(&rec, "401"), "{rec:?}");
    logs.drain();
    assert!(!logs.seen.iter().any(|r| mentions(r, secret)));
    agent.stop().await
}
