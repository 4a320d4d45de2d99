//! The `maestro-domain` binary refuses an invalid config with status 64 and one line naming the
//! key, whichever layer supplied it.

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
