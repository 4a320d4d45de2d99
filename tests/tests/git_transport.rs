//! An order crosses every tier with the domain's Git repository on real servers: the domain
//! orchestrator pushes over HTTPS (basic auth, a custom CA), site north-1 fetches over HTTPS and
//! site north-2 over SSH (deploy key, pinned host key). The secret appears in no process log
//! and no Git config the components wrote.

use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_testkit::git_servers::{HttpsGitServer, SshGitServer};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup, workloads_per_site};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_completes_with_git_over_https_and_ssh() -> anyhow::Result<()> {
    let service = format!("git-transport-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let https = HttpsGitServer::start().await?;
    let ssh = SshGitServer::start().await?;
    let repo = https.create_repo("north")?;
    let https_git = json!({
        "ca": https.ca.cert,
        "username": https.username,
        "password_file": https.password_file("token", &https.password)?,
        "timeout_secs": 10,
    });
    let ssh_git =
        json!({"ssh_key": ssh.deploy_key, "known_hosts": ssh.known_hosts, "timeout_secs": 10});
    let (https_url, ssh_url) = (https.url("north"), ssh.url_of(&repo));

    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        2,
        |component, _, config| match component {
            Component::Domain => {
                config["git_remote"] = json!(https_url);
                config["git_init_remote"] = json!(false);
                config["git"] = https_git.clone();
            }
            Component::Site if config["site"] == "north-2" => {
                config["git_remote"] = json!(ssh_url);
                config["git"] = ssh_git.clone();
            }
            Component::Site => {
                config["git_remote"] = json!(https_url);
                config["git"] = https_git.clone();
            }
            _ => {}
        },
    )?;
    let password = https.password.clone();
    with_logs(&fed, async {
        orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
        let mut client = orders::order_client(&fed.api)?;
        let spec = orders::demo_order(ItemAction::Add, &service, "over the wire", 1, &["north"]);
        let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "order: {done:#?}");
        let running = workloads_per_site(&service);
        anyhow::ensure!(
            running.keys().map(String::as_str).collect::<Vec<_>>() == ["north-1", "north-2"],
            "both sites run the service: {running:?}"
        );
        // The traffic went where it should: a push and fetches over HTTPS, a login over SSH.
        let access = std::fs::read_to_string(https.dir().join("nginx-access.log"))?;
        anyhow::ensure!(
            access.contains("POST /git/north.git/git-receive-pack HTTP/1.1\" 200"),
            "{access}"
        );
        anyhow::ensure!(
            access.contains("POST /git/north.git/git-upload-pack HTTP/1.1\" 200"),
            "{access}"
        );
        let sshd = std::fs::read_to_string(ssh.dir().join("sshd.log"))?;
        anyhow::ensure!(sshd.contains("Accepted publickey"), "{sshd}");
        assert_secret_absent(dir.path(), &password)
    })
    .await
}

/// Fails when `secret` is in any log or Git `config` file under `dir`.
fn assert_secret_absent(dir: &Path, secret: &str) -> anyhow::Result<()> {
    let mut checked = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name == "log.txt" || name == "config" {
                let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
                anyhow::ensure!(
                    !text.contains(secret),
                    "the secret is in {}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    // Four process logs, the domain's and both sites' Git configs at least.
    anyhow::ensure!(
        checked >= 7,
        "only {checked} files checked under {}",
        dir.display()
    );
    Ok(())
}
