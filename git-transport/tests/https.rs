//! Fetch and push over HTTPS against a real server (nginx + git-http-backend): basic auth from a
//! password file, a custom CA, and the failures an operator must be able to read.

mod common;

use std::time::{Duration, Instant};

use common::{fetch, push, repo_with_commit};
use maestro_git_transport::{GitSettings, RemoteAccess};
use maestro_testkit::git_servers::{Blackhole, HttpsGitServer, TestCa};

fn settings(server: &HttpsGitServer, password: &str) -> GitSettings {
    GitSettings {
        ca: Some(server.ca.cert.clone()),
        username: Some(server.username.clone()),
        password_file: Some(server.password_file("token", password).unwrap()),
        ..GitSettings::default()
    }
}

#[tokio::test]
async fn push_then_fetch_with_basic_auth_and_a_custom_ca() {
    let server = HttpsGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let settings = settings(&server, &server.password);
    settings.validate_for("git", "git_remote", &url).unwrap();
    let access = RemoteAccess::new(&url, &settings).unwrap();

    let work = tempfile::tempdir().unwrap();
    let commit = repo_with_commit(&work.path().join("src"), "a.json", "{}");
    push(&access, &work.path().join("src"), &url).unwrap();
    let fetched = fetch(&access, &work.path().join("dst"), &url).unwrap();
    assert_eq!(fetched, commit);
}

#[tokio::test]
async fn a_wrong_password_names_the_remote_and_not_the_secret() {
    let server = HttpsGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let secret = "wrong-s3cret-value";
    let access = RemoteAccess::new(&url, &settings(&server, secret)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let err = fetch(&access, work.path(), &url).unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(
        !err.contains(secret) && !err.contains(&server.password),
        "{err}"
    );
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_server_is_refused() {
    let server = HttpsGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let work = tempfile::tempdir().unwrap();
    let other = TestCa::new(work.path(), "other").unwrap();
    let settings = GitSettings {
        ca: Some(other.cert.clone()),
        ..settings(&server, &server.password)
    };
    let access = RemoteAccess::new(&url, &settings).unwrap();
    let err = fetch(&access, &work.path().join("dst"), &url)
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("certificate"), "{err}");
    // Nothing reached git-http-backend: the handshake failed first.
    let log = std::fs::read_to_string(server.dir().join("nginx-access.log")).unwrap_or_default();
    assert!(!log.contains("info/refs"), "{log}");
}

#[tokio::test]
async fn the_platform_roots_do_not_trust_a_private_ca() {
    let server = HttpsGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let access = RemoteAccess::new(&url, &GitSettings::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let err = fetch(&access, work.path(), &url).unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains("certificate"), "{err}");
}

#[tokio::test]
async fn an_unresponsive_server_fails_the_fetch_within_the_timeout() {
    let hole = Blackhole::start().unwrap();
    let url = format!("https://127.0.0.1:{}/git/north.git", hole.port());
    let settings = GitSettings {
        timeout_secs: 2,
        deadline_secs: 4,
        ..GitSettings::default()
    };
    let access = RemoteAccess::new(&url, &settings).unwrap();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = fetch(&access, work.path(), &url).unwrap_err().to_string();
    eprintln!("{err}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(err.contains(&url) && err.contains("timed out"), "{err}");
}
