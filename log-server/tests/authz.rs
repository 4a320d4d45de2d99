//! Mutual TLS and authorization at the log server: only sites of its domain push, each only its
//! own records (nothing of a refused push is stored, so a forged sender cannot use up a real
//! site's sequence numbers); only its own domain reads.

mod common;

use common::{Server, config, log, logs};
use maestro_common::tls::{TlsSettings, TlsSource};
use maestro_proto::logs::v1 as proto;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_testkit::pki::TestPki;
use tonic::Code;
use tonic::transport::Channel;

fn client(server: &Server, tls: &TlsSettings) -> LogServiceClient<Channel> {
    let tls = TlsSource::load(tls).unwrap().unwrap();
    let url = format!("https://{}", server.addr);
    LogServiceClient::new(maestro_common::grpc::channel_with(&url, Some(&tls), None).unwrap())
}

async fn query_all(
    client: &mut LogServiceClient<Channel>,
) -> Result<Vec<proto::Record>, tonic::Status> {
    let page = client
        .query(proto::QueryRequest {
            filter: None,
            after_sequence: 0,
            page_size: 1000,
        })
        .await?;
    Ok(page.into_inner().records)
}

fn refused_by(status: &tonic::Status, rule: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(rule),
        "{status:?} names rule {rule}"
    );
}

#[tokio::test]
async fn sites_push_only_their_own_records_and_only_the_domain_reads() {
    let pki = TestPki::new("mines.example");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(log_server::Config {
        tls: pki.issue("domain/north"),
        ..config(dir.path())
    })
    .await;
    let mut n1 = client(&server, &pki.issue("domain/north/site/n1"));
    let mut n2 = client(&server, &pki.issue("domain/north/site/n2"));
    let mut south_site = client(&server, &pki.issue("domain/south/site/s1"));
    let mut maestro = client(&server, &pki.issue("maestro"));
    let mut north = client(&server, &pki.issue("domain/north"));
    let mut south = client(&server, &pki.issue("domain/south"));

    // n2 pushes records in n1's name, with the sequence numbers n1 uses next: refused, and a
    // batch mixing its own and n1's records is refused whole.
    let e = n2
        .push(proto::PushRequest {
            records: logs("n1", 1..=3),
        })
        .await
        .unwrap_err();
    refused_by(&e, "site-pushes-own-records");
    let mut mixed = logs("n2", 1..=1);
    mixed.push(log("n1", 1, "i1"));
    let e = n2
        .push(proto::PushRequest { records: mixed })
        .await
        .unwrap_err();
    refused_by(&e, "site-pushes-own-records");
    // A site of another domain, maestro: refused.
    let e = south_site
        .push(proto::PushRequest {
            records: logs("s1", 1..=1),
        })
        .await
        .unwrap_err();
    refused_by(&e, "site-pushes-to-own-domain");
    let e = maestro
        .push(proto::PushRequest {
            records: logs("n1", 1..=1),
        })
        .await
        .unwrap_err();
    refused_by(&e, "records-from-sites-only");
    assert!(
        query_all(&mut north).await.unwrap().is_empty(),
        "nothing refused was stored"
    );

    // n1's real records with those sequence numbers are all accepted, none a duplicate.
    let out = n1
        .push(proto::PushRequest {
            records: logs("n1", 1..=3),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((out.accepted, out.duplicates), (3, 0));

    // Only domain north reads north's records.
    assert_eq!(query_all(&mut north).await.unwrap().len(), 3);
    refused_by(
        &query_all(&mut south).await.unwrap_err(),
        "records-read-by-own-domain",
    );
    refused_by(
        &query_all(&mut n1).await.unwrap_err(),
        "records-read-by-own-domain",
    );
    let e = maestro
        .subscribe(proto::SubscribeRequest {
            after_sequence: 0,
            follow: false,
            filter: None,
        })
        .await
        .unwrap_err();
    refused_by(&e, "records-read-by-own-domain");
    server.stop().await;
}

#[tokio::test]
async fn clients_without_a_certificate_of_the_ca_are_refused_at_the_handshake() {
    let pki = TestPki::new("mines.example");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(log_server::Config {
        tls: pki.issue("domain/north"),
        ..config(dir.path())
    })
    .await;
    // Plaintext against the TLS port.
    let mut plain = server.client();
    let e = plain
        .push(proto::PushRequest {
            records: logs("n1", 1..=1),
        })
        .await
        .unwrap_err();
    refused_at_transport(&e);
    // A site certificate of another CA.
    let other = TestPki::new("mines.example");
    let mut stranger = {
        let theirs = other.issue("domain/north/site/n1");
        let tls = TlsSource::load(&TlsSettings {
            ca: Some(pki.ca()),
            ..theirs
        })
        .unwrap_err();
        assert!(tls.to_string().contains("not signed by the CA"), "{tls}");
        // Trusting the server's CA but presenting the other CA's certificate needs tonic's own
        // TLS client (ours refuses to load such material).
        let theirs = other.issue("domain/north/site/n1");
        let cert = std::fs::read(theirs.cert.unwrap()).unwrap();
        let key = std::fs::read(theirs.key.unwrap()).unwrap();
        let ca = std::fs::read(pki.ca()).unwrap();
        let ch = tonic::transport::Endpoint::from_shared(format!("https://{}", server.addr))
            .unwrap()
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                    .identity(tonic::transport::Identity::from_pem(cert, key)),
            )
            .unwrap()
            .connect_lazy();
        LogServiceClient::new(ch)
    };
    let e = stranger
        .push(proto::PushRequest {
            records: logs("n1", 1..=1),
        })
        .await
        .unwrap_err();
    refused_at_transport(&e);
    // An expired certificate of the right CA: refused when loaded.
    let e = TlsSource::load(&pki.issue_expired("domain/north/site/n1")).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    let mut north = client(&server, &pki.issue("domain/north"));
    assert!(
        query_all(&mut north).await.unwrap().is_empty(),
        "nothing was stored"
    );
    server.stop().await;
}

/// The connection failed before any call reached a handler (plaintext against TLS, or a
/// certificate the server refused: with TLS 1.3 the client learns it on its first read).
fn refused_at_transport(e: &tonic::Status) {
    assert!(
        matches!(e.code(), Code::Unavailable | Code::Unknown)
            && !e.message().contains("refused by rule"),
        "{e:?}"
    );
}

/// Only the domain's orchestrator announces commits, only its sites follow them; an invalid
/// commit id is refused with the field; a follower gets the latest commit at once, then each new
/// one.
#[tokio::test]
async fn the_domain_announces_commits_and_only_its_sites_follow_them() {
    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";
    let pki = TestPki::new("mines.example");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(log_server::Config {
        tls: pki.issue("domain/north"),
        ..config(dir.path())
    })
    .await;
    let mut north = client(&server, &pki.issue("domain/north"));
    let mut n1 = client(&server, &pki.issue("domain/north/site/n1"));
    let announce = |commit: &str| proto::AnnounceCommitRequest {
        commit: commit.to_string(),
    };
    for who in ["domain/south", "domain/north/site/n1", "maestro"] {
        let e = client(&server, &pki.issue(who))
            .announce_commit(announce(A))
            .await
            .unwrap_err();
        refused_by(&e, "commits-announced-by-own-domain");
    }
    for who in ["domain/north", "domain/south/site/s1", "maestro"] {
        let e = client(&server, &pki.issue(who))
            .watch_commits(proto::WatchCommitsRequest {})
            .await
            .unwrap_err();
        refused_by(&e, "commits-watched-by-own-sites");
    }
    let e = north
        .announce_commit(announce("../../refs/heads/main"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("commit"), "{e:?}");

    north.announce_commit(announce(A)).await.unwrap();
    let mut notices = n1
        .watch_commits(proto::WatchCommitsRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = notices.message().await.unwrap().unwrap();
    assert_eq!(first.commit, A);
    assert!(first.announced_at.is_some());
    let reply = north.announce_commit(announce(B)).await.unwrap();
    assert_eq!(reply.into_inner().watchers, 1);
    let second = notices.message().await.unwrap().unwrap();
    assert_eq!(second.commit, B);
}
