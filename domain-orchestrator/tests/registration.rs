//! Registration with maestro's DomainRegistry: retried while maestro is down, then heartbeats.

mod common;

use common::*;
use maestro_proto::domain::v1 as reg;
use maestro_testkit::grpc::TestServer;
use maestro_testkit::within;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct FakeRegistry(mpsc::UnboundedSender<String>);

#[tonic::async_trait]
impl reg::domain_registry_server::DomainRegistry for FakeRegistry {
    async fn register_domain(
        &self,
        r: tonic::Request<reg::RegisterDomainRequest>,
    ) -> Result<tonic::Response<reg::Domain>, tonic::Status> {
        let r = r.into_inner();
        let ring = r
            .site_labels
            .get("s1")
            .and_then(|l| l.labels.get("ring"))
            .cloned()
            .unwrap_or_default();
        let _ = self.0.send(format!(
            "register {} {} {:?} {} ring={ring} labelled={}",
            r.id,
            r.endpoint,
            r.sites,
            r.region,
            r.site_labels.len()
        ));
        Ok(tonic::Response::new(reg::Domain {
            id: r.id,
            endpoint: r.endpoint,
            ..Default::default()
        }))
    }

    async fn heartbeat(
        &self,
        r: tonic::Request<reg::HeartbeatRequest>,
    ) -> Result<tonic::Response<reg::HeartbeatResponse>, tonic::Status> {
        let _ = self.0.send(format!("heartbeat {}", r.into_inner().id));
        Ok(tonic::Response::new(reg::HeartbeatResponse {}))
    }

    async fn list_domains(
        &self,
        _: tonic::Request<reg::ListDomainsRequest>,
    ) -> Result<tonic::Response<reg::ListDomainsResponse>, tonic::Status> {
        Ok(tonic::Response::new(reg::ListDomainsResponse::default()))
    }
}

#[tokio::test]
async fn registers_once_maestro_is_up_then_heartbeats() {
    // Take a free port and release it: maestro is "down" when the domain starts.
    let maestro_addr = maestro_testkit::net::free_addr();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let config = domain_orchestrator::Config {
        domain: DOMAIN.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        git_remote: remote_path(dir.path()).display().to_string(),
        git_init_remote: true,
        sites: vec!["s1".into()],
        site_labels: [("s1".into(), [("ring".into(), "canary".into())].into())].into(),
        region: "eu-north".into(),
        maestro: Some(format!("http://{maestro_addr}")),
        heartbeat_interval_ms: 50,
        tls: maestro_common::tls::TlsSettings::insecure(),
        ..Default::default()
    };
    let running = domain_orchestrator::run(config, shutdown.clone())
        .await
        .unwrap();
    // Serving does not wait for maestro.
    let mut client = maestro_proto::intent::v1::intent_service_client::IntentServiceClient::new(
        maestro_common::grpc::channel(&format!("http://{}", running.addr)).unwrap(),
    );
    client
        .list_intents(maestro_proto::intent::v1::ListIntentsRequest::default())
        .await
        .unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let router = tonic::transport::Server::builder().add_service(
        reg::domain_registry_server::DomainRegistryServer::new(FakeRegistry(tx)),
    );
    let maestro = TestServer::start_on(maestro_addr, router).await.unwrap();
    let first = within("the registration", GUARD, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        format!(
            "register {DOMAIN} http://{} [\"s1\"] eu-north ring=canary labelled=1",
            running.addr
        )
    );
    let second = within("a heartbeat", GUARD, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, format!("heartbeat {DOMAIN}"));
    shutdown.cancel();
    within("the domain to shut down", GUARD, running.task)
        .await
        .unwrap()
        .unwrap();
    maestro.cancel();
}
