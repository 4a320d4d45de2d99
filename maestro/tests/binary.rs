//! The `maestro` binary refuses an invalid config with status 64 and one line naming the key.

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
