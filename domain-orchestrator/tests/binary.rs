//! The `maestro-domain` binary: answers gRPC health on a valid config and stops with status 0 on
//! SIGTERM; refuses an invalid config with status 64 and one line naming the key, whichever
//! layer supplied it.

use maestro_testkit::GUARD;
use maestro_testkit::binary::Serving;
use maestro_testkit::grpc::{health, health_with};
use maestro_testkit::pki::TestPki;
use std::process::Command;
use tonic_health::pb::health_check_response::ServingStatus;

#[test]
fn invalid_config_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("domain.toml");
    std::fs::write(
        &config,
        "domain = \"north\"\nsites = [\"north-1\"]\ngit_remote = \"/srv/git/north.git\"\n\
         [tls]\ninsecure = true\n",
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
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("mines.example");
    let tls = pki.issue("domain/north");
    let config = dir.path().join("domain.yaml");
    std::fs::write(
        &config,
        format!(
            "domain: north\nsites: [north-1]\nlisten: 127.0.0.1:0\ngit_init_remote: true\n\
             git_remote: {:?}\ntls: {}\n",
            dir.path().join("remote.git").display().to_string(),
            serde_json::to_string(&tls).unwrap()
        ),
    )
    .unwrap();
    let domain = Serving::spawn(
        Command::new(env!("CARGO_BIN_EXE_maestro-domain"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("MAESTRO_MAESTRO")
            .env_remove("MAESTRO_LOG_SERVER")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stderr(std::process::Stdio::null()),
        "domain orchestrator serving on ",
        GUARD,
    )
    .unwrap();
    // Over mutual TLS with maestro's certificate (health is open to any client of the CA).
    let maestro = pki.issue("maestro");
    assert_eq!(
        health_with(&domain.addr, Some(&maestro)).await.unwrap(),
        ServingStatus::Serving
    );
    assert!(health(&domain.addr).await.is_err(), "plaintext is refused");
    let status = domain.stop(GUARD).await.expect("stops after SIGTERM");
    assert_eq!(status.code(), Some(0));
}
