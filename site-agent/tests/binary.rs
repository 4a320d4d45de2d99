//! The `maestro-site` binary: serves its embedded colony on a valid config and stops with status
//! 0 on SIGTERM; refuses an invalid config with status 64 and one line naming the key, before it
//! creates anything.

use maestro_testkit::GUARD;
use maestro_testkit::binary::Serving;
use std::process::{Command, Stdio};

#[test]
fn serves_its_colony_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    git2::Repository::init_bare(&remote).unwrap();
    let config = dir.path().join("site.toml");
    let pki = maestro_testkit::pki::TestPki::new("mines.example");
    let tls = pki.issue("domain/north/site/north-1");
    let path = |p: Option<std::path::PathBuf>| p.unwrap().display().to_string();
    std::fs::write(
        &config,
        format!(
            "domain = \"north\"\nsite = \"north-1\"\ngit_remote = {:?}\n\
             log_server = \"https://127.0.0.1:9\"\ncolony_listen = \"127.0.0.1:0\"\n\
             [tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
            remote.display().to_string(),
            path(tls.ca),
            path(tls.cert),
            path(tls.key),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let site = Serving::spawn(
        Command::new(env!("CARGO_BIN_EXE_maestro-site"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("MAESTRO_SITE")
            .env_remove("MAESTRO_LOG_SERVER")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stderr(Stdio::null()),
        "site agent serving on ",
        GUARD,
    )
    .unwrap();
    let addr: std::net::SocketAddr = site.addr.parse().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "colony on {addr}"
    );
    assert!(data.exists(), "--data-dir is used");
    let status = site.terminate(GUARD).expect("stops after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn invalid_config_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.json");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        r#"{"domain": "north", "site": "north-1", "git_remote": "/srv/git/north.git",
            "tls": {"insecure": true}}"#,
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_maestro-site"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(extra)
            .env_remove("MAESTRO_LOG_SERVER")
            .env_remove("MAESTRO_SITE")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stderr) = run(&["--log-server", "logs:7400"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("log_server"), "{stderr}");
    let (code, stderr) = run(&["--site", "North 1"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("site"), "{stderr}");
    assert!(!data.exists(), "nothing was started");
}

#[test]
fn validation_names_the_key() {
    use maestro_common::config::Validate;
    use site_agent::Config;
    let valid = || Config {
        git_remote: "/srv/git/north.git".into(),
        tls: maestro_common::tls::TlsSettings::insecure(),
        ..Config::default()
    };
    assert_eq!(valid().validate(), Ok(()));
    let secure = Config {
        tls: maestro_common::tls::TlsSettings::files("ca.pem", "s.pem", "s.key"),
        ..valid()
    };
    assert_eq!(
        secure.validate().unwrap_err().field,
        "log_server",
        "http:// with TLS"
    );
    let secure = Config {
        log_server: "https://127.0.0.1:7400".into(),
        ..secure
    };
    assert_eq!(secure.validate(), Ok(()));
    let cases: Vec<(Config, &str)> = vec![
        (
            Config {
                site: "Site 1".into(),
                ..valid()
            },
            "site",
        ),
        (
            Config {
                domain: String::new(),
                ..valid()
            },
            "domain",
        ),
        (Config::default(), "git_remote"),
        (
            Config {
                log_server: "127.0.0.1:7400".into(),
                ..valid()
            },
            "log_server",
        ),
        (
            Config {
                colony_url: Some("colony:50080".into()),
                ..valid()
            },
            "colony_url",
        ),
        (
            Config {
                sync_interval_ms: 0,
                ..valid()
            },
            "sync_interval_ms",
        ),
        (
            Config {
                colony_reconcile_interval_ms: 0,
                ..valid()
            },
            "colony_reconcile_interval_ms",
        ),
    ];
    for (config, key) in cases {
        assert_eq!(config.validate().unwrap_err().field, key);
    }
}
