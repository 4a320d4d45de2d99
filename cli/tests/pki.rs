//! The real `maestroctl pki init/issue/inspect` in a temporary directory: files, modes, exit codes
//! and `-o json` output.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn maestroctl(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maestroctl"))
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("MAESTRO_OUTPUT")
        .env_remove("MAESTROCTL_CONFIG")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn assert_one_error_line(out: &Output, containing: &str) {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "expected one line, got {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    assert!(err.contains(containing), "{err:?} lacks {containing:?}");
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A certificate from another tool: self-signed, for localhost, with these URI SANs.
fn self_signed_with_uris(uris: &[&str]) -> String {
    use rcgen::{CertificateParams, KeyPair, SanType, string::Ia5String};
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    for u in uris {
        params
            .subject_alt_names
            .push(SanType::URI(Ia5String::try_from(u.to_string()).unwrap()));
    }
    params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .pem()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_issue_inspect_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("pki");
    let d = dir.to_str().unwrap();

    let out = maestroctl(
        home.path(),
        &["pki", "init", "--dir", d, "--trust-domain", "plant.example"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("pki.json")).unwrap()).unwrap();
    assert_eq!(meta["trustDomain"], "plant.example");

    // A second init keeps the CA.
    let ca_key = std::fs::read(dir.join("ca-key.pem")).unwrap();
    let out = maestroctl(
        home.path(),
        &["pki", "init", "--dir", d, "--trust-domain", "plant.example"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out, "--force");
    assert_eq!(std::fs::read(dir.join("ca-key.pem")).unwrap(), ca_key);

    // Options before and after the identity.
    let out = maestroctl(
        home.path(),
        &[
            "pki",
            "issue",
            "--dir",
            d,
            "domain",
            "north",
            "--dns",
            "orch.north.example",
            "--valid-days",
            "30",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("spiffe://plant.example/domain/north"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let cert = dir.join("domain-north.pem");
    assert_eq!(mode(&dir.join("domain-north-key.pem")), 0o600);

    let out = maestroctl(
        home.path(),
        &["pki", "inspect", cert.to_str().unwrap(), "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        view["identity"]["uri"],
        "spiffe://plant.example/domain/north"
    );
    assert_eq!(view["identity"]["role"], "domain");
    assert_eq!(view["identity"]["domain"], "north");
    assert_eq!(view["isCa"], false);
    assert_eq!(
        view["sans"]["dns"],
        serde_json::json!(["orch.north.example"])
    );
    let days = view["daysLeft"].as_i64().unwrap();
    assert!((29..=30).contains(&days), "{days}");
    assert!(
        view["issuer"].as_str().unwrap().contains("Maestro CA"),
        "{view}"
    );

    // The table names the identity and the CA shows no identity.
    let out = maestroctl(home.path(), &["pki", "inspect", cert.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Identity:     spiffe://plant.example/domain/north")
    );
    let ca = dir.join("ca.pem");
    let out = maestroctl(
        home.path(),
        &["pki", "inspect", ca.to_str().unwrap(), "-o", "yaml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("isCa: true"));

    // Issuing the same identity again keeps the files; --force replaces them.
    let before = std::fs::read(&cert).unwrap();
    let out = maestroctl(
        home.path(),
        &["pki", "issue", "domain", "north", "--dir", d],
    );
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out, "already exists");
    assert_eq!(std::fs::read(&cert).unwrap(), before);
    let out = maestroctl(
        home.path(),
        &["pki", "issue", "domain", "north", "--dir", d, "--force"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(std::fs::read(&cert).unwrap(), before);

    // Operators: client only.
    let out = maestroctl(
        home.path(),
        &["pki", "issue", "--dir", d, "operator", "ada"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let op = dir.join("operator-ada.pem");
    let out = maestroctl(
        home.path(),
        &["pki", "inspect", op.to_str().unwrap(), "-o", "json"],
    );
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        view["identity"]["uri"],
        "spiffe://plant.example/operator/ada"
    );
    assert_eq!(view["extendedKeyUsage"], serde_json::json!(["clientAuth"]));
}

#[test]
fn bad_input_exits_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("pki");
    let d = dir.to_str().unwrap();
    let out = maestroctl(
        home.path(),
        &["pki", "init", "--dir", d, "--trust-domain", "Bad/TD"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out, "trust domain");
    assert!(!dir.exists());

    // No CA yet: not found, with the command that makes one.
    let out = maestroctl(home.path(), &["pki", "issue", "--dir", d, "maestro"]);
    assert_eq!(out.status.code(), Some(3));
    assert_one_error_line(&out, "pki init");

    let out = maestroctl(
        home.path(),
        &["pki", "init", "--dir", d, "--trust-domain", "t.example"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files = || std::fs::read_dir(&dir).unwrap().count();
    let before = files();
    let out = maestroctl(
        home.path(),
        &["pki", "issue", "--dir", d, "site", "north", "../../etc"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out, "site");
    assert_eq!(files(), before);

    // Usage errors: a missing --dir, a missing site name.
    let out = maestroctl(home.path(), &["pki", "issue", "maestro"]);
    assert_eq!(out.status.code(), Some(2));
    assert_one_error_line(&out, "--dir");
    let out = maestroctl(home.path(), &["pki", "issue", "--dir", d, "site", "north"]);
    assert_eq!(out.status.code(), Some(2));

    // Inspect: not a certificate, no identity, missing file.
    let junk = home.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let out = maestroctl(home.path(), &["pki", "inspect", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out, "not a certificate");
    let key = dir.join("ca-key.pem");
    let out = maestroctl(home.path(), &["pki", "inspect", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert_one_error_line(&out, "no CERTIFICATE");
    for (uris, reason) in [
        (vec![], "no spiffe://"),
        (
            vec!["spiffe://t.example/maestro", "spiffe://t.example/domain/d"],
            "2 spiffe://",
        ),
    ] {
        let file = home.path().join("other.pem");
        std::fs::write(&file, self_signed_with_uris(&uris)).unwrap();
        let out = maestroctl(home.path(), &["pki", "inspect", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(4), "{uris:?}");
        assert_one_error_line(&out, reason);
    }
    let out = maestroctl(home.path(), &["pki", "inspect", "/nonexistent/cert.pem"]);
    assert_eq!(out.status.code(), Some(3));
    assert_one_error_line(&out, "no such file");
}
