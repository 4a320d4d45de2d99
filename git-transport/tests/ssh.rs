//! Fetch and push over SSH against a real sshd: a deploy key, host keys pinned in a known_hosts
//! file (never trusted on first use), and a server that never answers.

mod common;

use std::time::{Duration, Instant};

use common::{fetch, push, repo_with_commit};
use maestro_git_transport::{GitSettings, RemoteAccess};
use maestro_testkit::git_servers::{Blackhole, SshGitServer};

fn settings(server: &SshGitServer) -> GitSettings {
    GitSettings {
        ssh_key: Some(server.deploy_key.clone()),
        known_hosts: Some(server.known_hosts.clone()),
        ..GitSettings::default()
    }
}

#[tokio::test]
async fn push_then_fetch_with_a_deploy_key_and_a_pinned_host_key() {
    let server = SshGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let settings = settings(&server);
    settings.validate_for("git", "git_remote", &url).unwrap();
    let access = RemoteAccess::new(&url, &settings).unwrap();

    let work = tempfile::tempdir().unwrap();
    let commit = repo_with_commit(&work.path().join("src"), "a.json", "{}");
    push(&access, &work.path().join("src"), &url).unwrap();
    let fetched = fetch(&access, &work.path().join("dst"), &url).unwrap();
    assert_eq!(fetched, commit);
}

#[tokio::test]
async fn a_host_key_that_is_not_pinned_is_refused() {
    let server = SshGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let work = tempfile::tempdir().unwrap();

    // Another key pinned for the address: the server is not who it should be.
    let wrong = GitSettings {
        known_hosts: Some(server.wrong_known_hosts().unwrap()),
        ..settings(&server)
    };
    let access = RemoteAccess::new(&url, &wrong).unwrap();
    let err = fetch(&access, &work.path().join("a"), &url)
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains(&url), "{err}");
    assert!(
        err.contains("Host key verification failed") || err.contains("HOST IDENTIFICATION"),
        "{err}"
    );

    // Nothing pinned: refused too, and nothing is learnt (no trust on first use).
    let empty = work.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let unpinned = GitSettings {
        known_hosts: Some(empty.clone()),
        ..settings(&server)
    };
    let access = RemoteAccess::new(&url, &unpinned).unwrap();
    let err = fetch(&access, &work.path().join("b"), &url)
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("Host key verification failed"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "no host key was added"
    );
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_refused() {
    let server = SshGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let work = tempfile::tempdir().unwrap();
    let stranger = work.path().join("stranger");
    maestro_testkit::git_servers::generate_key(&stranger, "stranger").unwrap();
    let settings = GitSettings {
        ssh_key: Some(stranger),
        ..settings(&server)
    };
    let access = RemoteAccess::new(&url, &settings).unwrap();
    let err = fetch(&access, &work.path().join("dst"), &url)
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("Permission denied"), "{err}");
}

#[tokio::test]
async fn an_unresponsive_server_fails_the_fetch_within_the_timeout() {
    let hole = Blackhole::start().unwrap();
    let server = SshGitServer::start().await.unwrap();
    let url = format!("ssh://git@127.0.0.1:{}/srv/git/north.git", hole.port());
    let settings = GitSettings {
        timeout_secs: 2,
        deadline_secs: 4,
        ..settings(&server)
    };
    let access = RemoteAccess::new(&url, &settings).unwrap();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = fetch(&access, work.path(), &url).unwrap_err().to_string();
    eprintln!("{err}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(err.contains(&url), "{err}");
}
