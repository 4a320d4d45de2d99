//! The `maestro` binary: answers gRPC health on a valid config and stops with status 0 on
//! SIGTERM; refuses an invalid config with status 64 and one line naming the key.

use std::process::Command;

#[test]
fn invalid_config_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("maestro.yaml");
    std::fs::write(&config, "fanout_backoff_min_ms: 0\n").unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("MAESTRO_FANOUT_BACKOFF_MIN_MS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("fanout_backoff_min_ms"), "{stderr}");
    assert!(!data.exists(), "nothing was started");

    // An unknown key set through the environment below a known one, and a typo in the file.
    std::fs::write(&config, "listen: 127.0.0.1:0\nlisten_typo: 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("listen_typo"), "{stderr}");
}

#[tokio::test]
async fn serves_health_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let config = dir.path().join("maestro.json");
    std::fs::write(&config, r#"{"listen": "127.0.0.1:0"}"#).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("MAESTRO_CATALOG_DIR", &catalog)
        .env_remove("MAESTRO_LISTEN")
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
        .strip_prefix("maestro serving on ")
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
