//! The `maestro-domain` binary: answers gRPC health on a valid config and stops with status 0 on
//! SIGTERM; refuses an invalid config with status 64 and one line naming the key, whichever
//! layer supplied it.

use std::process::Command;

#[test]
fn invalid_config_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("domain.toml");
    std::fs::write(
        &config,
        "domain = \"north\"\nsites = [\"north-1\"]\ngit_remote = \"/srv/git/north.git\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_maestro-domain"));
        cmd.arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(extra)
            .env_remove("MAESTRO_SITES")
            .env_remove("MAESTRO_BRANCH")
            .env_remove("MAESTRO_MAESTRO");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stderr) = run(&[], &[("MAESTRO_SITES", "[north-1, \"North 2\"]")]);
    assert_eq!(code, Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("sites[1]"), "{stderr}");
    let (code, stderr) = run(&["--maestro", "maestro:7200"], &[]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("maestro"), "{stderr}");
    let (code, stderr) = run(&[], &[("MAESTRO_BRANCH", "a..b")]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("branch"), "{stderr}");
    assert!(!data.exists(), "nothing was started");
}

#[tokio::test]
async fn serves_health_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("domain.yaml");
    std::fs::write(
        &config,
        format!(
            "domain: north\nsites: [north-1]\nlisten: 127.0.0.1:0\ngit_init_remote: true\n\
             git_remote: {:?}\n",
            dir.path().join("remote.git").display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro-domain"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("MAESTRO_MAESTRO")
        .env_remove("MAESTRO_LOG_SERVER")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            BufReader::new(stdout).lines().next().and_then(Result::ok)
        }),
    )
    .await;
    let Ok(Ok(Some(line))) = line else {
        let _ = child.kill();
        panic!("no serving line: {line:?}");
    };
    let addr = line
        .strip_prefix("domain orchestrator serving on ")
        .unwrap_or_else(|| panic!("{line}"));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("stops after SIGTERM")
    .unwrap()
    .unwrap();
    assert_eq!(status.code(), Some(0));
}
