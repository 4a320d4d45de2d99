//! The `maestro` binary: answers gRPC health on a valid config and stops with status 0 on
//! SIGTERM; refuses an invalid config with status 64 and one line naming the key.

use maestro_testkit::GUARD;
use maestro_testkit::binary::Serving;
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

    // TLS is required unless set insecure, and a bad operator policy is named.
    std::fs::write(&config, "listen: 127.0.0.1:0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("--config")
        .arg(&config)
        .env_remove("MAESTRO_TLS__INSECURE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("tls.ca"), "{stderr}");
    let pki = maestro_testkit::pki::TestPki::new("mines.example");
    let tls = pki.issue("maestro");
    let policy = dir.path().join("operators.yaml");
    std::fs::write(&policy, "operators:\n  alice: {role: root}\n").unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncatalog_dir: {catalog:?}\noperator_policy: {policy:?}\ntls: {}\n",
            serde_json::to_string(&tls).unwrap()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("operators.yaml") && stderr.contains("root"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let config = dir.path().join("maestro.json");
    std::fs::write(&config, r#"{"listen": "127.0.0.1:0"}"#).unwrap();
    let maestro = Serving::spawn(
        Command::new(env!("CARGO_BIN_EXE_maestro"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("MAESTRO_CATALOG_DIR", &catalog)
            .env("MAESTRO_TLS__INSECURE", "true")
            .env_remove("MAESTRO_LISTEN")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stderr(std::process::Stdio::null()),
        "maestro serving on ",
        GUARD,
    )
    .unwrap();
    assert_eq!(
        maestro_testkit::grpc::health(&maestro.addr).await.unwrap(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    let status = maestro.stop(GUARD).await.expect("stops after SIGTERM");
    assert_eq!(status.code(), Some(0));
}
