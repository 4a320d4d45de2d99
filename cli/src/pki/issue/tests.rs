use super::*;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_der: &[u8]) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    Arc::new(roots)
}

/// Whether a mutual-TLS server trusting only `ca` accepts `leaf` as a client certificate.
fn accepted_as_client(ca: &[u8], leaf: &[u8]) -> bool {
    rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap()
        .verify_client_cert(&CertificateDer::from(leaf.to_vec()), &[], UnixTime::now())
        .is_ok()
}

/// Whether a client trusting only `ca` accepts `leaf` as the server certificate of `name`.
fn accepted_as_server(ca: &[u8], leaf: &[u8], name: &str) -> bool {
    rustls::client::WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap()
        .verify_server_cert(
            &CertificateDer::from(leaf.to_vec()),
            &[],
            &ServerName::try_from(name.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .is_ok()
}

fn der(path: &Path) -> Vec<u8> {
    crate::pki::inspect::certificate_der(&std::fs::read(path).unwrap()).unwrap()
}

fn request(role: Role) -> IssueRequest {
    IssueRequest {
        role,
        dns: Vec::new(),
        ips: Vec::new(),
        valid_days: 30,
        out: None,
        force: false,
    }
}

fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ca::init(dir.path(), "plant.example", 365, false).unwrap();
    dir
}

#[test]
fn every_role_reads_back_and_verifies_against_the_ca() {
    let dir = pki();
    let ca_der = der(&dir.path().join(ca::CA_CERT));
    let cases = [
        (role("maestro", &[]).unwrap(), "maestro", true),
        (role("domain", &["north"]).unwrap(), "domain-north", true),
        (
            role("site", &["north", "mine-7"]).unwrap(),
            "site-north-mine-7",
            false,
        ),
        (role("operator", &["ada"]).unwrap(), "operator-ada", false),
    ];
    for (role, stem, server) in cases {
        let out = issue(dir.path(), &request(role.clone())).unwrap();
        assert_eq!(out.cert, dir.path().join(format!("{stem}.pem")));
        assert_eq!(out.key, dir.path().join(format!("{stem}-key.pem")));
        let mode = std::fs::metadata(&out.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{stem}");
        let leaf = der(&out.cert);
        let expected = PeerIdentity::new("plant.example", role.clone()).unwrap();
        assert_eq!(PeerIdentity::from_certificate(&leaf).unwrap(), expected);
        assert_eq!(out.identity, expected);
        assert!(accepted_as_client(&ca_der, &leaf), "{stem} as a client");
        let operator = matches!(role, Role::Operator { .. });
        // Servers carry localhost by default; operators never pass as servers (clientAuth only).
        assert_eq!(
            accepted_as_server(&ca_der, &leaf, "localhost"),
            server,
            "{stem} as the server localhost"
        );
        if operator {
            let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth && !eku.server_auth);
        }
        // The key belongs to the certificate.
        let key = KeyPair::from_pem(&std::fs::read_to_string(&out.key).unwrap()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
    }
}

#[test]
fn a_certificate_of_another_ca_does_not_verify() {
    let ours = pki();
    let theirs = pki();
    let out = issue(theirs.path(), &request(Role::Maestro)).unwrap();
    let ca_der = der(&ours.path().join(ca::CA_CERT));
    assert!(!accepted_as_client(&ca_der, &der(&out.cert)));
    assert!(!accepted_as_server(&ca_der, &der(&out.cert), "localhost"));
}

#[test]
fn server_names_replace_the_defaults() {
    let dir = pki();
    let mut req = request(role("domain", &["north"]).unwrap());
    req.dns = vec!["orchestrator.north.example".into()];
    req.ips = vec!["10.1.2.3".parse().unwrap()];
    let out = issue(dir.path(), &req).unwrap();
    let ca_der = der(&dir.path().join(ca::CA_CERT));
    let leaf = der(&out.cert);
    assert!(accepted_as_server(
        &ca_der,
        &leaf,
        "orchestrator.north.example"
    ));
    assert!(accepted_as_server(&ca_der, &leaf, "10.1.2.3"));
    assert!(!accepted_as_server(&ca_der, &leaf, "localhost"));
}

#[test]
fn existing_files_are_not_replaced_without_force() {
    let dir = pki();
    let out = issue(dir.path(), &request(Role::Maestro)).unwrap();
    let (cert, key) = (
        std::fs::read(&out.cert).unwrap(),
        std::fs::read(&out.key).unwrap(),
    );
    let err = issue(dir.path(), &request(Role::Maestro)).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out.cert).unwrap(), cert);
    assert_eq!(std::fs::read(&out.key).unwrap(), key);
    let mut forced = request(Role::Maestro);
    forced.force = true;
    issue(dir.path(), &forced).unwrap();
    assert_ne!(std::fs::read(&out.key).unwrap(), key);
}

#[test]
fn bad_names_and_requests_are_refused_before_anything_is_written() {
    for (kind, names) in [
        ("site", vec!["north", "../etc"]),
        ("domain", vec!["a/b"]),
        ("operator", vec![".hidden"]),
        ("operator", vec![""]),
        ("site", vec!["north"]),
        ("maestro", vec!["extra"]),
        ("admin", vec![]),
    ] {
        let err = role(kind, &names).unwrap_err();
        assert_eq!(err.exit_code(), 4, "{kind} {names:?}");
    }
    let dir = pki();
    let files_before = std::fs::read_dir(dir.path()).unwrap().count();
    let mut req = request(role("operator", &["ada"]).unwrap());
    req.dns = vec!["ada.example".into()];
    assert_eq!(issue(dir.path(), &req).unwrap_err().exit_code(), 4);
    let mut req = request(Role::Maestro);
    req.dns = vec!["bad_name.example".into()];
    assert_eq!(issue(dir.path(), &req).unwrap_err().exit_code(), 4);
    let mut req = request(Role::Maestro);
    req.valid_days = 400;
    let err = issue(dir.path(), &req).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("outlive the CA"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files_before);
}

#[test]
fn out_prefix_names_the_files() {
    let dir = pki();
    let target = tempfile::tempdir().unwrap();
    let mut req = request(role("site", &["north", "mine-7"]).unwrap());
    req.out = Some(target.path().join("tls/site"));
    let out = issue(dir.path(), &req).unwrap();
    assert_eq!(out.cert, target.path().join("tls/site.pem"));
    assert_eq!(out.key, target.path().join("tls/site-key.pem"));
    assert!(out.cert.is_file() && out.key.is_file());
}
