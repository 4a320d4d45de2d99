//! The log server's configuration as its binary loads it: defaults, file keys, environment
//! overrides, flags, unknown keys rejected, unusable values refused naming the key (by the loader
//! and by `run`), and the `maestro-log-server` binary exiting 64 on an invalid config.

use log_server::{Config, Error};
use maestro_common::config::{ConfigError, Flags, Sources, load, load_validated};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_are_those_of_the_contract() {
    let c: Config = load(&Sources::default()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.retention_max_records, None);
    assert_eq!(c.retention_max_bytes, None);
    assert_eq!(c.retention_max_age_ms, None);
    assert_eq!(c.retention_interval_ms, 10_000);
    assert_eq!(c.rate_limit_per_site, 2000);
    assert_eq!(c.rate_limit_burst, 10_000);
}

#[test]
fn file_and_environment_set_the_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "log-server.toml",
        r#"
domain = "north"
retention_max_records = 1000000
retention_max_bytes = 1073741824
retention_max_age_ms = 604800000
retention_interval_ms = 5000
rate_limit_per_site = 500
rate_limit_burst = 2000

[tls]
ca = "/etc/maestro/ca.pem"
cert = "/etc/maestro/log-server.pem"
key = "/etc/maestro/log-server-key.pem"
reload_secs = 30
"#,
    );
    let env = vec![(
        "MAESTRO_RETENTION_MAX_RECORDS".to_string(),
        "42".to_string(),
    )];
    let c: Config = load(&Sources {
        file: Some(path.clone()),
        env: env.clone(),
        flags: Flags::new(),
    })
    .unwrap();
    assert_eq!(c.domain, "north");
    assert_eq!(c.retention_max_records, Some(42), "env overrides the file");
    assert_eq!(c.retention_max_bytes, Some(1 << 30));
    assert_eq!(c.retention_max_age_ms, Some(604_800_000));
    assert_eq!(c.retention_interval_ms, 5000);
    assert_eq!(c.rate_limit_per_site, 500);
    assert_eq!(c.rate_limit_burst, 2000);
    assert_eq!(
        c.tls.cert.as_deref(),
        Some(std::path::Path::new("/etc/maestro/log-server.pem"))
    );
    assert_eq!(c.tls.reload_secs, 30);
    assert_eq!(c.validate(), Ok(()));
    let c: Config = load(&Sources {
        file: Some(path),
        env,
        flags: Flags::new().set("retention_max_records", Some(7u64)),
    })
    .unwrap();
    assert_eq!(c.retention_max_records, Some(7), "a flag overrides the env");
}

#[test]
fn unknown_keys_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("a.toml", "retention_max_record = 5\n"),
        ("b.yaml", "rate_limit: 5\n"),
        ("c.json", r#"{"retention": {"max_records": 5}}"#),
    ] {
        let path = file(&dir, name, text);
        let err = load::<Config>(&Sources {
            file: Some(path),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { reason, .. } if reason.contains("unknown field")),
            "{name}: {err}"
        );
        assert!(err.field().is_some(), "{name}: {err}");
    }
}

#[tokio::test]
async fn run_refuses_unusable_values_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (config, key) in [
        (
            Config {
                rate_limit_burst: 10,
                ..Config::default()
            },
            "rate_limit_burst",
        ),
        (
            Config {
                rate_limit_per_site: 0,
                ..Config::default()
            },
            "rate_limit_per_site",
        ),
        (
            Config {
                retention_interval_ms: 0,
                ..Config::default()
            },
            "retention_interval_ms",
        ),
    ] {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            tls: maestro_common::tls::TlsSettings::insecure(),
            ..config
        };
        match log_server::run(config, CancellationToken::new()).await {
            Err(Error::Config(e)) => assert_eq!(e.field, key),
            other => panic!("{key}: expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn the_loader_validates_naming_the_key() {
    let env = vec![("MAESTRO_RATE_LIMIT_PER_SITE".to_string(), "0".to_string())];
    let err = load_validated::<Config>(&Sources {
        env,
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(err.field(), Some("rate_limit_per_site"), "{err}");
}

#[test]
fn the_binary_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "log-server.yaml", "rate_limit_burst: 1\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maestro-log-server"))
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("MAESTRO_RATE_LIMIT_BURST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("rate_limit_burst"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing started");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maestro-log-server"))
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed flag is a usage error"
    );
}
