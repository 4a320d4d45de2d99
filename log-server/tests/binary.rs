//! The `maestro-log-server` binary: starts on a valid config, answers gRPC health, and stops
//! with status 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("log-server.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro-log-server"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env("MAESTRO_DOMAIN", "north")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
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
        .strip_prefix("log server serving on ")
        .unwrap_or_else(|| panic!("{line}"));
    assert!(data.exists(), "--data-dir is used");
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
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
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
