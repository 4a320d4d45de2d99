//! Mutual TLS and authorization at a domain orchestrator: only maestro changes or reads its
//! intents; anyone else is refused before anything is stored or reaches Git.

mod common;

use common::{Domain, branch, intent, remote_path};
use maestro_common::tls::{TlsSettings, TlsSource};
use maestro_proto::intent::v1 as pb;
use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
use maestro_testkit::pki::TestPki;
use tonic::Code;
use tonic::transport::Channel;

fn client(domain: &Domain, tls: &TlsSettings) -> IntentServiceClient<Channel> {
    let tls = TlsSource::load(tls).unwrap().unwrap();
    let url = format!("https://{}", domain.running.addr);
    IntentServiceClient::new(maestro_common::grpc::channel_with(&url, Some(&tls), None).unwrap())
}

fn refused_by(status: &tonic::Status, rule: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(rule),
        "{status:?} names rule {rule}"
    );
}

#[tokio::test]
async fn only_maestro_applies_deletes_and_reads_intents() {
    let pki = TestPki::new("mines.example");
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let tls = pki.issue("domain/north");
    let domain = Domain::start_with(&dir.path().join("data"), &remote, None, |c| c.tls = tls).await;

    // Everyone but maestro: an operator, a site of the domain, the domain itself, another domain.
    for who in [
        "operator/alice",
        "domain/north/site/s1",
        "domain/north",
        "domain/south",
    ] {
        let mut c = client(&domain, &pki.issue(who));
        let e = c
            .apply_intent(pb::ApplyIntentRequest {
                intent: Some(intent("web", 1, 1)),
            })
            .await
            .unwrap_err();
        refused_by(&e, "intents-from-maestro-only");
        let e = c
            .delete_intent(pb::DeleteIntentRequest {
                id: intent("web", 1, 1).id,
                generation: 2,
                ..Default::default()
            })
            .await
            .unwrap_err();
        refused_by(&e, "intents-from-maestro-only");
        let e = c
            .list_intents(pb::ListIntentsRequest::default())
            .await
            .unwrap_err();
        refused_by(&e, "intents-read-by-maestro-only");
    }
    assert!(branch(&remote).is_none(), "nothing reached Git");
    assert!(
        domain.ctx.store.list("", 10).unwrap().is_empty(),
        "nothing was stored"
    );

    // A maestro of another trust domain, even signed by the same CA: refused.
    let mut foreign = client(&domain, &pki.issue_in("other.example", "maestro"));
    let e = foreign
        .apply_intent(pb::ApplyIntentRequest {
            intent: Some(intent("web", 1, 1)),
        })
        .await
        .unwrap_err();
    refused_by(&e, "same-trust-domain");

    // Maestro: allowed.
    let mut maestro = client(&domain, &pki.issue("maestro"));
    let mut watch = maestro
        .watch_intent_status(pb::WatchIntentStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    let out = maestro
        .apply_intent(pb::ApplyIntentRequest {
            intent: Some(intent("web", 1, 1)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.stored_generation, 1);
    common::wait_committed(&mut watch, &intent("web", 1, 1).id, 1).await;
    assert_eq!(branch(&remote).unwrap().commits, 1);
    domain.stop().await;
}
