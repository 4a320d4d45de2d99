//! GitPublisher pushing to real Git servers over HTTPS (nginx + git-http-backend, basic auth, a
//! custom CA) and SSH (sshd, a deploy key, a pinned host key); the secret never reaches the
//! local mirror's Git config or an error.

mod common;

use common::branch;
use domain_orchestrator::git::{BlueprintRepo, GitError, GitPublisher};
use maestro_git_transport::GitSettings;
use maestro_testkit::git_servers::{HttpsGitServer, SshGitServer};
use std::collections::BTreeMap;
use std::path::Path;

fn files(replicas: u32) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "sites/north-1/ProcessDeployment/web.json".to_string(),
        format!("{{\"replicas\": {replicas}}}\n"),
    )])
}

fn https_settings(server: &HttpsGitServer, password: &str) -> GitSettings {
    GitSettings {
        ca: Some(server.ca.cert.clone()),
        username: Some(server.username.clone()),
        password_file: Some(server.password_file("domain-token", password).unwrap()),
        ..GitSettings::default()
    }
}

fn publisher(mirror: &Path, url: &str, settings: &GitSettings) -> GitPublisher {
    settings.validate_for("git", "git_remote", url).unwrap();
    GitPublisher::open(mirror, url, "main", false, "north")
        .unwrap()
        .with_settings(settings)
        .unwrap()
}

/// Every file of the local mirror's Git config, as text.
fn mirror_config(mirror: &Path) -> String {
    std::fs::read_to_string(mirror.join("config")).unwrap()
}

#[tokio::test]
async fn publishes_over_https_with_basic_auth_and_a_custom_ca() {
    let server = HttpsGitServer::start().await.unwrap();
    let remote = server.create_repo("north").unwrap();
    let url = server.url("north");
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    let p = publisher(&mirror, &url, &https_settings(&server, &server.password));

    let first = p.publish(&files(1), "one").unwrap();
    assert!(first.changed);
    // The second publish fetches over HTTPS first, then pushes on top.
    let second = p.publish(&files(2), "two").unwrap();
    assert!(second.changed);
    let b = branch(&remote).expect("main on the server");
    assert_eq!((b.commits, b.head.as_str()), (2, second.commit.as_str()));
    assert_eq!(
        b.files["sites/north-1/ProcessDeployment/web.json"],
        "{\"replicas\": 2}\n"
    );
    assert!(!mirror_config(&mirror).contains(&server.password));
}

#[tokio::test]
async fn a_wrong_password_fails_the_publish_naming_the_remote_only() {
    let server = HttpsGitServer::start().await.unwrap();
    server.create_repo("north").unwrap();
    let url = server.url("north");
    let dir = tempfile::tempdir().unwrap();
    let secret = "not-the-s3cret";
    let p = publisher(
        &dir.path().join("mirror"),
        &url,
        &https_settings(&server, secret),
    );
    let err = p.publish(&files(1), "one").unwrap_err().to_string();
    assert!(err.contains(&url) && err.contains("401"), "{err}");
    assert!(!err.contains(secret), "{err}");
    assert!(!mirror_config(&dir.path().join("mirror")).contains(secret));
}

#[tokio::test]
async fn publishes_over_ssh_with_a_deploy_key_and_a_pinned_host_key() {
    let server = SshGitServer::start().await.unwrap();
    let remote = server.create_repo("north").unwrap();
    let url = server.url("north");
    let settings = GitSettings {
        ssh_key: Some(server.deploy_key.clone()),
        known_hosts: Some(server.known_hosts.clone()),
        ..GitSettings::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = publisher(&dir.path().join("mirror"), &url, &settings);
    p.publish(&files(1), "one").unwrap();
    let second = p.publish(&files(3), "three").unwrap();
    let b = branch(&remote).expect("main on the server");
    assert_eq!((b.commits, b.head.as_str()), (2, second.commit.as_str()));
}

#[test]
fn a_missing_ca_file_is_a_config_error_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let settings = GitSettings {
        ca: Some(dir.path().join("missing-ca.pem")),
        ..GitSettings::default()
    };
    let err = GitPublisher::open(
        &dir.path().join("m"),
        "https://git.example/n.git",
        "main",
        false,
        "north",
    )
    .unwrap()
    .with_settings(&settings)
    .err()
    .expect("refused");
    assert!(matches!(err, GitError::Settings(_)), "{err}");
    let err = domain_orchestrator::Error::from_git_setup(err);
    assert!(
        matches!(err, domain_orchestrator::Error::Config(_)),
        "{err}"
    );
    assert!(err.to_string().contains("missing-ca.pem"), "{err}");
}
