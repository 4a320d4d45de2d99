use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio_util::sync::CancellationToken;

use super::*;

/// A test CA issuing leaf certificates with one `spiffe://` URI SAN.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new() -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Self {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn leaf(&self, spiffe: &str, server: bool) -> Leaf {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![SanType::URI(spiffe.try_into().unwrap())];
        if server {
            p.subject_alt_names
                .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
            p.subject_alt_names
                .push(SanType::DnsName("localhost".try_into().unwrap()));
        }
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn material(&self, leaf: &Leaf) -> TlsMaterial {
        TlsMaterial::from_pem(
            self.pem().as_bytes(),
            leaf.cert.as_bytes(),
            leaf.key.as_bytes(),
        )
    }
}

#[test]
fn settings_are_insecure_or_complete() {
    let all = TlsSettings {
        ca: Some("ca.pem".into()),
        cert: Some("c.pem".into()),
        key: Some("k.pem".into()),
        insecure: false,
    };
    all.validate("tls").unwrap();
    TlsSettings {
        insecure: true,
        ..TlsSettings::default()
    }
    .validate("tls")
    .unwrap();
    let e = TlsSettings::default().validate("tls").unwrap_err();
    assert_eq!(e.field, "tls.ca");
    let e = TlsSettings {
        key: None,
        ..all.clone()
    }
    .validate("tls")
    .unwrap_err();
    assert_eq!(e.field, "tls.key");
    let e = TlsSettings {
        insecure: true,
        ..all
    }
    .validate("tls")
    .unwrap_err();
    assert!(e.reason.contains("insecure"), "{e}");
}

#[test]
fn unreadable_or_non_pem_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let s = TlsSettings {
        ca: Some(junk.clone()),
        cert: Some(junk.clone()),
        key: Some(dir.path().join("missing.pem")),
        insecure: false,
    };
    let e = s.load().unwrap_err().to_string();
    assert!(e.contains("junk.pem") && e.contains("not a PEM"), "{e}");
    assert!(
        TlsSettings {
            insecure: true,
            ..TlsSettings::default()
        }
        .load()
        .unwrap()
        .is_none()
    );
}

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_of_the_ca() {
    let ca = Ca::new();
    let server = ca.material(&ca.leaf("spiffe://td/domain/north", true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let task = tokio::spawn(crate::grpc::serve_with(
        listener,
        tonic::service::Routes::default(),
        &[],
        Some(server),
        stop.clone(),
    ));

    let maestro = ca.material(&ca.leaf("spiffe://td/maestro", false));
    let ch = crate::grpc::channel_with(&url, Some(&maestro)).unwrap();
    assert_eq!(
        health(ch).await.unwrap(),
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // No client certificate: refused at the handshake.
    let anonymous = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())))
        .unwrap()
        .connect_lazy();
    let e = health(anonymous).await.unwrap_err();
    assert!(format!("{e:?}").contains("CertificateRequired"), "{e:?}");

    // A client certificate of another CA: the server refuses it at the handshake.
    let other = Ca::new();
    let foreign = other.leaf("spiffe://td/maestro", false);
    let stranger = TlsMaterial::from_pem(
        ca.pem().as_bytes(),
        foreign.cert.as_bytes(),
        foreign.key.as_bytes(),
    );
    let ch = crate::grpc::channel_with(&url, Some(&stranger)).unwrap();
    let e = health(ch).await.unwrap_err();
    assert!(format!("{e:?}").contains("received fatal alert"), "{e:?}");

    // A client that trusts only another CA does not accept this server.
    let wrong_trust = other.material(&other.leaf("spiffe://td/maestro", false));
    let ch = crate::grpc::channel_with(&url, Some(&wrong_trust)).unwrap();
    let e = health(ch).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("invalid peer certificate"),
        "{e:?}"
    );

    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_caller_is_known_by_its_certificate() {
    let ca = Ca::new();
    let server = ca.material(&ca.leaf("spiffe://td/domain/north", true));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let (_, health_service) = tonic_health::server::health_reporter();
    let checked = tonic::service::interceptor::InterceptedService::new(
        health_service,
        move |req: tonic::Request<()>| {
            let id = peer_identity(&req)?;
            record.lock().unwrap().push(id.to_uri());
            Ok(req)
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .tls_config(server.server())
            .unwrap()
            .add_service(checked)
            .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned()),
    );
    let site = ca.material(&ca.leaf("spiffe://td/domain/north/site/n1", false));
    let ch = crate::grpc::channel_with(&url, Some(&site)).unwrap();
    // The health reporter of this test reports nothing: NOT_FOUND after the interceptor ran.
    let _ = health(ch).await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["spiffe://td/domain/north/site/n1".to_string()]
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[test]
fn a_plaintext_request_has_no_identity() {
    let e = peer_identity(&tonic::Request::new(())).unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
}
