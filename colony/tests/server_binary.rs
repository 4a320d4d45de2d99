//! The `colony-server` binary: clap arguments over upstream's `COLONIES_*` variables, exit 64 on
//! invalid configuration, and a clean stop on SIGTERM. The variables are set on the child only.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_colony-server"));
    for name in [
        "COLONIES_SERVER_ID",
        "COLONIES_SERVER_HTTP_PORT",
        "COLONIES_SERVER_PORT",
        "COLONIES_DATA_DIR",
        "COLONIES_TLS",
        "COLONIES_TLSCERT",
        "COLONIES_TLSKEY",
        "COLONIES_SERVER_HTTP_TLS_CERT",
        "COLONIES_SERVER_HTTP_TLS_KEY",
        "COLONIES_RETENTION",
        "COLONIES_RETENTION_POLICY",
    ] {
        cmd.env_remove(name);
    }
    cmd
}

fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn invalid_configuration_exits_64_in_one_line() {
    let (code, err) = run(&mut server());
    assert_eq!(code, Some(64), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--server-id"), "{err}");
    let (code, err) = run(server()
        .env("COLONIES_SERVER_ID", "owner")
        .env("COLONIES_SERVER_HTTP_PORT", "http"));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("COLONIES_SERVER_HTTP_PORT"), "{err}");
    let (code, err) = run(server()
        .env("COLONIES_SERVER_ID", "owner")
        .env("COLONIES_TLS", "maybe"));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("COLONIES_TLS"), "{err}");
    let (code, err) = run(server()
        .env("COLONIES_SERVER_ID", "owner")
        .env("COLONIES_TLS", "true"));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("no certificate"), "{err}");
    let (code, err) = run(server()
        .env("COLONIES_SERVER_ID", "owner")
        .env("COLONIES_RETENTION", "yes"));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("COLONIES_RETENTION must be"), "{err}");
    let (code, err) = run(server()
        .env("COLONIES_SERVER_ID", "owner")
        .env("COLONIES_RETENTION", "true")
        .env("COLONIES_RETENTION_POLICY", "-5"));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("COLONIES_RETENTION_POLICY"), "{err}");
    let (code, err) = run(server().arg("--bogus"));
    assert_eq!(code, Some(64), "{err}");
}

#[test]
fn serves_on_the_upstream_port_variable_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = maestro_testkit::net::free_port();
    let mut child = server()
        .env("COLONIES_SERVER_ID", "owner")
        // The legacy name counts when the current one is empty, as upstream.
        .env("COLONIES_SERVER_HTTP_PORT", "")
        .env("COLONIES_SERVER_PORT", port.to_string())
        .args(["--listen", "127.0.0.1", "--data-dir"])
        .arg(dir.path().join("db"))
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60));
    let pid = child.id().to_string();
    let Ok(line) = line else {
        let _ = child.kill();
        panic!("no listening line");
    };
    assert_eq!(
        line,
        format!("colony-server listening on 127.0.0.1:{port} (http)")
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("stops after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
