//! The `maestroctl` binary: exit codes and one-line errors without any server.

use maestro_testkit::GUARD;
use maestro_testkit::binary::Serving;
use std::process::{Command, Output};

fn maestroctl(args: &[&str]) -> (Output, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maestroctl"))
        .args(args)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("MAESTRO_ADDR")
        .env_remove("MAESTRO_OUTPUT")
        .env_remove("MAESTRO_TIMEOUT")
        .env_remove("MAESTROCTL_CONFIG")
        .output()
        .unwrap();
    (out, home)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn assert_one_error_line(out: &Output) {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "expected one line, got {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn unreachable_maestro_exits_5_with_one_line() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        vec!["order", "list"],
        vec!["domain", "list"],
        vec!["catalog", "list"],
        vec!["order", "get", "x"],
    ] {
        let mut all = vec!["--maestro", url.as_str()];
        all.extend(args.iter().copied());
        let (out, _home) = maestroctl(&all);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        assert_one_error_line(&out);
        assert!(stderr(&out).contains(&url), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_flag_exits_2_with_one_line() {
    let (out, _home) = maestroctl(&["order", "list", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert_one_error_line(&out);
    assert!(stderr(&out).contains("--bogus"), "{}", stderr(&out));
    let (out, _home) = maestroctl(&["-o", "xml", "order", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert_one_error_line(&out);
    let (out, _home) = maestroctl(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("order"));
}

#[test]
fn invalid_order_file_exits_4_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "orderItem:\n  - id: '1'\n    action: add\n    service: { name: hello, colour: blue }\n",
    )
    .unwrap();
    // Parsing happens before any call, so no server is needed.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (out, _home) = maestroctl(&[
        "--maestro",
        &url,
        "order",
        "create",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_one_error_line(&out);
    assert!(
        stderr(&out).contains("colour") && stderr(&out).contains("orderItem[0].service"),
        "{}",
        stderr(&out)
    );

    let missing = dir.path().join("missing.yaml");
    let (out, _home) = maestroctl(&[
        "--maestro",
        &url,
        "order",
        "create",
        "-f",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out);
}

#[test]
fn bad_settings_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, "maestro: http://127.0.0.1:1\nunknown_key: 1\n").unwrap();
    let (out, _home) = maestroctl(&["--config", file.to_str().unwrap(), "order", "list"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert_one_error_line(&out);
    assert!(stderr(&out).contains("unknown_key"));

    let component = dir.path().join("maestro.yaml");
    std::fs::write(&component, "listen: 127.0.0.1:0\nlisten_typo: 1\n").unwrap();
    let (out, _home) = maestroctl(&["run", "maestro", "--config", component.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert_one_error_line(&out);
}

#[test]
fn settings_file_supplies_the_endpoint() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (home_out, home) = maestroctl(&["--help"]);
    assert_eq!(home_out.status.code(), Some(0));
    let cfg_dir = home.path().join(".config").join("maestro");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.yaml"),
        format!("maestro: {url}\ntimeout: 2s\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maestroctl"))
        .args(["domain", "list"])
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("MAESTRO_ADDR")
        .env_remove("MAESTROCTL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains(&url),
        "the default settings file names the endpoint: {}",
        stderr(&out)
    );
}

#[test]
fn run_log_server_serves_until_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("log-server.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let server = Serving::spawn(
        Command::new(env!("CARGO_BIN_EXE_maestroctl"))
            .args(["run", "log-server", "--config", config.to_str().unwrap()])
            .env("MAESTRO_DOMAIN", "north")
            .env("MAESTRO_TLS__INSECURE", "true")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stderr(std::process::Stdio::null()),
        "log server serving on ",
        GUARD,
    )
    .unwrap();
    let addr: std::net::SocketAddr = server.addr.parse().unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "listening on {addr}"
    );
    assert!(data.exists(), "data_dir from the config file is used");
    let status = server
        .signal_and_wait(nix::sys::signal::Signal::SIGINT, GUARD)
        .expect("stops after SIGINT");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn keys_are_generated_shown_and_rotated_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    let (out, _home) = maestroctl(&["keys", "generate", "--out", &out_dir, "--name", "north"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let public = std::fs::read_to_string(dir.path().join("north.pub")).unwrap();
    assert_eq!(public.trim().len(), 64, "{public:?}");
    let private = dir.path().join("north.pk8").display().to_string();
    let (out, _home) = maestroctl(&["keys", "public", &private]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), public);
    // Never replaced without --force.
    let (out, _home) = maestroctl(&["keys", "generate", "--out", &out_dir, "--name", "north"]);
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out);
    // A rotation the domain could not sign is refused; one it can is printed as its config.
    maestroctl(&["keys", "generate", "--out", &out_dir, "--name", "next"]);
    let next_pub = dir.path().join("next.pub").display().to_string();
    let next = dir.path().join("next.pk8").display().to_string();
    let (out, _home) = maestroctl(&["keys", "rotate", "--key", &private, "--announce", &next_pub]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_one_error_line(&out);
    let (out, _home) = maestroctl(&[
        "keys",
        "rotate",
        "--key",
        &private,
        "--key",
        &next,
        "--announce",
        &next_pub,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let section: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(section["signing"]["keys"].as_array().unwrap().len(), 2);
    let next_key = std::fs::read_to_string(dir.path().join("next.pub")).unwrap();
    assert_eq!(section["signing"]["key_set"]["keys"][0], next_key.trim());
    assert_eq!(section["signing"]["key_set"]["threshold"], 1);
    // Not a key file.
    let (out, _home) = maestroctl(&["keys", "public", &out_dir]);
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out);
}
