//! The `maestro-log-server` binary: starts on a valid config, answers gRPC health, and stops
//! with status 0 on SIGTERM.

use maestro_testkit::GUARD;
use maestro_testkit::binary::Serving;
use maestro_testkit::grpc::health;
use std::process::{Command, Stdio};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test]
async fn serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("log-server.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").unwrap();
    let data = dir.path().join("data");
    let server = Serving::spawn(
        Command::new(env!("CARGO_BIN_EXE_maestro-log-server"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env("MAESTRO_DOMAIN", "north")
            // Plaintext, set explicitly through the environment's nesting.
            .env("MAESTRO_TLS__INSECURE", "true")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stderr(Stdio::null()),
        "log server serving on ",
        GUARD,
    )
    .unwrap();
    assert!(data.exists(), "--data-dir is used");
    assert_eq!(health(&server.addr).await.unwrap(), ServingStatus::Serving);
    let status = server.stop(GUARD).await.expect("stops after SIGTERM");
    assert_eq!(status.code(), Some(0));
}
