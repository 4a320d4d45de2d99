//! TLS on the embedded server: an https client trusting the test CA works; plain HTTP to the
//! TLS port is refused with a clear error; an https client trusting another CA is refused.

mod common;

use std::path::Path;

use colony::{Colony, ColonyClient, ColonyError, PrivateKey, ServerConfig, TlsFiles, start};
use common::guard;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio_util::sync::CancellationToken;

/// A CA and a leaf certificate for 127.0.0.1 signed by it; returns the CA PEM.
fn write_certs(dir: &Path) -> (TlsFiles, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, leaf_key.serialize_pem()).unwrap();
    let ca_pem: &rcgen::Certificate = ca.as_ref();
    (files, ca_pem.pem())
}

#[tokio::test]
async fn https_with_ca_works_and_plain_http_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (files, ca_pem) = write_certs(dir.path());
    let server_key = PrivateKey::generate();
    let mut config = ServerConfig::new(
        dir.path().join("db"),
        server_key.id(),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.tls = Some(files);
    let shutdown = CancellationToken::new();
    let server = start(config, shutdown.clone()).await.unwrap();
    let addr = server.addr;

    let client = ColonyClient::new_with_tls(&format!("https://{addr}"), ca_pem.as_bytes()).unwrap();
    guard(client.health()).await.unwrap();
    let colony = Colony {
        colony_id: PrivateKey::generate().id(),
        name: "site-tls".to_owned(),
    };
    guard(client.add_colony(&server_key, &colony))
        .await
        .unwrap();
    let colonies = guard(client.get_colonies(&server_key)).await.unwrap();
    assert_eq!(colonies, vec![colony.clone()]);
    // A bare host:port means https for a TLS client.
    let bare = ColonyClient::new_with_tls(&addr.to_string(), ca_pem.as_bytes()).unwrap();
    assert_eq!(
        guard(bare.get_colonies(&server_key)).await.unwrap().len(),
        1
    );

    let plain = ColonyClient::from_addr(addr);
    let err = guard(plain.get_colonies(&server_key)).await.unwrap_err();
    assert!(
        matches!(&err, ColonyError::Decode { http_status: 400, reason }
            if reason.contains("Client sent an HTTP request to an HTTPS server")),
        "{err}"
    );

    let other_dir = tempfile::tempdir().unwrap();
    let (_, other_ca) = write_certs(other_dir.path());
    let untrusting =
        ColonyClient::new_with_tls(&format!("https://{addr}"), other_ca.as_bytes()).unwrap();
    let err = guard(untrusting.get_colonies(&server_key))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ColonyError::Transport(m) if m.contains("certificate")),
        "{err}"
    );

    shutdown.cancel();
    guard(server.stopped()).await;
}

#[tokio::test]
async fn tls_configuration_errors_are_reported() {
    let err = ColonyClient::new_with_tls("https://127.0.0.1:1", b"not a pem").unwrap_err();
    assert!(matches!(err, ColonyError::Tls(_)), "{err}");
    let err = ColonyClient::new("https://127.0.0.1:1").unwrap_err();
    assert!(
        matches!(&err, ColonyError::InvalidUrl { reason, .. } if reason.contains("new_with_tls")),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(
        dir.path().join("db"),
        PrivateKey::generate().id(),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.tls = Some(TlsFiles {
        cert: dir.path().join("missing.pem"),
        key: dir.path().join("missing.key"),
    });
    let err = start(config, CancellationToken::new()).await.unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
