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
        self.leaf_with(spiffe, server, |_| {})
    }

    fn expired_leaf(&self, spiffe: &str) -> Leaf {
        self.leaf_with(spiffe, true, |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }

    fn leaf_with(
        &self,
        spiffe: &str,
        server: bool,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
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
        edit(&mut p);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes the CA and `leaf` into `dir` and loads them.
    fn source(&self, dir: &std::path::Path, leaf: &Leaf) -> TlsSource {
        TlsSource::load(&self.write(dir, leaf)).unwrap().unwrap()
    }

    fn write(&self, dir: &std::path::Path, leaf: &Leaf) -> TlsSettings {
        write_files(dir, &self.pem(), leaf)
    }
}

fn write_files(dir: &std::path::Path, ca: &str, leaf: &Leaf) -> TlsSettings {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca).unwrap();
    std::fs::write(dir.join("cert.pem"), &leaf.cert).unwrap();
    std::fs::write(dir.join("key.pem"), &leaf.key).unwrap();
    TlsSettings::files(
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn settings_are_insecure_or_complete() {
    let all = TlsSettings::files("ca.pem", "c.pem", "k.pem");
    all.validate("tls").unwrap();
    TlsSettings::insecure().validate("tls").unwrap();
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
        ..all.clone()
    }
    .validate("tls")
    .unwrap_err();
    assert!(e.reason.contains("insecure"), "{e}");
    let e = TlsSettings {
        reload_secs: 0,
        ..all.clone()
    }
    .validate("tls")
    .unwrap_err();
    assert_eq!(e.field, "tls.reload_secs");
    let e = TlsSettings {
        server_name: Some("not a name".into()),
        ..all
    }
    .validate("tls")
    .unwrap_err();
    assert_eq!(e.field, "tls.server_name");
}

#[test]
fn unreadable_or_non_pem_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let s = TlsSettings::files(&junk, &junk, dir.path().join("missing.pem"));
    let e = TlsSource::load(&s).unwrap_err().to_string();
    assert!(e.contains("junk.pem") && e.contains("not a PEM"), "{e}");
    assert!(TlsSource::load(&TlsSettings::insecure()).unwrap().is_none());
}

#[test]
fn expired_certificates_and_certificates_of_another_ca_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let e = TlsSource::load(&ca.write(dir.path(), &ca.expired_leaf("spiffe://td/maestro")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cert.pem") && e.contains("expired at 2021-01-01"),
        "{e}"
    );

    let replaced = Ca::new();
    let leaf = ca.leaf("spiffe://td/maestro", true);
    let e = TlsSource::load(&write_files(dir.path(), &replaced.pem(), &leaf))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not signed by the CA") && e.contains("ca.pem"),
        "{e}"
    );

    let source = ca.source(dir.path(), &leaf);
    assert_eq!(source.identity().to_uri(), "spiffe://td/maestro");
}

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;

struct Server {
    url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), crate::grpc::ServeError>>,
}

impl Server {
    async fn start(tls: TlsSource, routes: tonic::service::Routes) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let task = tokio::spawn(crate::grpc::serve_with(
            listener,
            routes,
            &[],
            Some(tls),
            stop.clone(),
        ));
        Self { url, stop, task }
    }

    fn channel(&self, tls: &TlsSource) -> tonic::transport::Channel {
        crate::grpc::channel_with(&self.url, Some(tls), None).unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_of_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let server = Server::start(
        ca.source(
            &dir.path().join("s"),
            &ca.leaf("spiffe://td/domain/north", true),
        ),
        tonic::service::Routes::default(),
    )
    .await;

    let maestro = ca.source(
        &dir.path().join("m"),
        &ca.leaf("spiffe://td/maestro", false),
    );
    assert_eq!(health(server.channel(&maestro)).await.unwrap(), SERVING);

    // No client certificate: refused at the handshake.
    let anonymous = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca.pem())),
        )
        .unwrap()
        .connect_lazy();
    let e = health(anonymous).await.unwrap_err();
    assert!(format!("{e:?}").contains("CertificateRequired"), "{e:?}");

    // A client certificate of another CA: the server refuses it at the handshake.
    let other = Ca::new();
    let foreign = other.leaf("spiffe://td/maestro", false);
    let stranger = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca.pem()))
                .identity(tonic::transport::Identity::from_pem(
                    &foreign.cert,
                    &foreign.key,
                )),
        )
        .unwrap()
        .connect_lazy();
    let e = health(stranger).await.unwrap_err();
    assert!(format!("{e:?}").contains("received fatal alert"), "{e:?}");

    // A client that trusts only another CA does not accept this server.
    let wrong_trust = other.source(&dir.path().join("o"), &foreign);
    let e = health(server.channel(&wrong_trust)).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("invalid peer certificate"),
        "{e:?}"
    );

    server.stop().await;
}

#[tokio::test]
async fn the_caller_is_known_by_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
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
    // Routes rather than serve_with's own health service: this one checks the caller.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let server = ca.source(
        &dir.path().join("s"),
        &ca.leaf("spiffe://td/domain/north", true),
    );
    let incoming = server::incoming(listener, server, stop.clone());
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(checked)
            .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned()),
    );
    let site = ca.source(
        &dir.path().join("c"),
        &ca.leaf("spiffe://td/domain/north/site/n1", false),
    );
    let ch = crate::grpc::channel_with(&url, Some(&site), None).unwrap();
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

#[tokio::test]
async fn a_replaced_ca_and_certificates_are_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old = Ca::new();
    let server_settings = TlsSettings {
        reload_secs: 1,
        ..old.write(
            &dir.path().join("s"),
            &old.leaf("spiffe://td/domain/north", true),
        )
    };
    let server_tls = TlsSource::load(&server_settings).unwrap().unwrap();
    let stop_reload = CancellationToken::new();
    let reloader = server_tls.spawn_reloader(stop_reload.clone());
    let mut swaps = server_tls.swaps();
    let server = Server::start(server_tls.clone(), tonic::service::Routes::default()).await;

    let old_client = old.source(
        &dir.path().join("c1"),
        &old.leaf("spiffe://td/maestro", false),
    );
    assert_eq!(health(server.channel(&old_client)).await.unwrap(), SERVING);

    // An expired certificate written over the server's files is refused; the old one stays.
    old.write(
        &dir.path().join("s"),
        &old.expired_leaf("spiffe://td/domain/north"),
    );
    let e = server_tls.reload().unwrap_err().to_string();
    assert!(e.contains("expired"), "{e}");
    assert_eq!(health(server.channel(&old_client)).await.unwrap(), SERVING);

    // The CA is replaced and the server gets a certificate of the new CA: the reloader swaps it
    // in, new connections of old-CA clients are refused, new-CA clients are admitted.
    let new = Ca::new();
    new.write(
        &dir.path().join("s"),
        &new.leaf("spiffe://td/domain/north", true),
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), swaps.changed())
        .await
        .expect("the reloader swaps the new material in within 10 s")
        .unwrap();
    let e = health(server.channel(&old_client)).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("invalid peer certificate"),
        "{e:?}"
    );
    let new_client = new.source(
        &dir.path().join("c2"),
        &new.leaf("spiffe://td/maestro", false),
    );
    assert_eq!(health(server.channel(&new_client)).await.unwrap(), SERVING);

    stop_reload.cancel();
    reloader.await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_client_can_require_the_identity_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let server = Server::start(
        ca.source(
            &dir.path().join("s"),
            &ca.leaf("spiffe://td/domain/north", true),
        ),
        tonic::service::Routes::default(),
    )
    .await;
    let maestro = ca.source(
        &dir.path().join("m"),
        &ca.leaf("spiffe://td/maestro", false),
    );
    let north = crate::identity::Role::Domain {
        domain: crate::ResourceName::parse("domain", "north").unwrap(),
    };
    let south = crate::identity::Role::Domain {
        domain: crate::ResourceName::parse("domain", "south").unwrap(),
    };
    let ch = crate::grpc::channel_with(&server.url, Some(&maestro), Some(north)).unwrap();
    assert_eq!(health(ch).await.unwrap(), SERVING);
    let ch = crate::grpc::channel_with(&server.url, Some(&maestro), Some(south)).unwrap();
    let e = health(ch).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("is spiffe://td/domain/north, expected domain south"),
        "{e:?}"
    );
    server.stop().await;
}

#[test]
fn a_component_starts_only_with_its_own_identity_and_a_matching_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let north = crate::identity::Role::Domain {
        domain: crate::ResourceName::parse("domain", "north").unwrap(),
    };
    let stop = CancellationToken::new();
    let south = ca.write(
        &dir.path().join("s"),
        &ca.leaf("spiffe://td/domain/south", true),
    );
    let e = start(&south, "domain orchestrator", &north, &stop).unwrap_err();
    assert!(
        e.to_string().contains(
            "names spiffe://td/domain/south, but this domain orchestrator is domain north"
        ),
        "{e}"
    );
    // A certificate with the key of another: refused (a renewal caught between its two writes).
    let (a, b) = (
        ca.leaf("spiffe://td/domain/north", true),
        ca.leaf("spiffe://td/domain/north", true),
    );
    let mixed = Leaf {
        cert: a.cert,
        key: b.key,
    };
    let e = TlsSource::load(&ca.write(&dir.path().join("m"), &mixed)).unwrap_err();
    assert!(e.to_string().contains("does not match its key"), "{e}");
    stop.cancel();
}

#[tokio::test]
async fn a_bundle_of_two_cas_trusts_both_during_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Ca::new(), Ca::new());
    let bundle = format!("{}{}", old.pem(), new.pem());
    let server_tls = TlsSource::load(&write_files(
        &dir.path().join("s"),
        &bundle,
        &new.leaf("spiffe://td/domain/north", true),
    ))
    .unwrap()
    .unwrap();
    let server = Server::start(server_tls, tonic::service::Routes::default()).await;
    for (name, ca) in [("old", &old), ("new", &new)] {
        let client = TlsSource::load(&write_files(
            &dir.path().join(name),
            &bundle,
            &ca.leaf("spiffe://td/maestro", false),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            health(server.channel(&client)).await.unwrap(),
            SERVING,
            "{name}"
        );
    }
    server.stop().await;
}

#[test]
fn an_endpoint_needs_the_scheme_tls_implies_and_a_host() {
    let tls = TlsSettings::default();
    let plain = TlsSettings::insecure();
    assert!(check_endpoint(&tls, "log_server", "https://logs.north:7400").is_ok());
    assert!(check_endpoint(&plain, "log_server", "http://127.0.0.1:7400").is_ok());
    let refused = |settings: &TlsSettings, endpoint: &str| {
        let e = check_endpoint(settings, "log_server", endpoint).unwrap_err();
        assert_eq!(e.field, "log_server", "{endpoint}");
        e.reason
    };
    assert!(refused(&tls, "http://logs:7400").contains("tls.insecure is false"));
    assert!(refused(&plain, "logs:7400").contains("must start with http://"));
    assert!(refused(&tls, "https://logs north:7400").contains("not a valid URI"));
    assert!(refused(&tls, "https://").contains("not a valid URI"));
    assert!(refused(&tls, "https://:7400").contains("names no host"));
}
