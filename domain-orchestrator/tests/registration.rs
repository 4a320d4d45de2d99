//! Registration with maestro's DomainRegistry: retried while maestro is down, then heartbeats.

mod common;

use common::*;
use maestro_proto::domain::v1 as reg;
use std::time::Duration;
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
        let _ = self.0.send(format!(
            "register {} {} {:?} {}",
            r.id, r.endpoint, r.sites, r.region
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let config = domain_orchestrator::Config {
        domain: DOMAIN.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        git_remote: remote_path(dir.path()).display().to_string(),
        git_init_remote: true,
        sites: vec!["s1".into()],
        region: "eu-north".into(),
        maestro: Some(format!("http://127.0.0.1:{port}")),
        heartbeat_interval_ms: 50,
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(reg::domain_registry_server::DomainRegistryServer::new(
                FakeRegistry(tx),
            ))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                s.cancelled_owned(),
            )
            .await
            .unwrap();
    });
    let first = tokio::time::timeout(GUARD, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        format!(
            "register {DOMAIN} http://{} [\"s1\"] eu-north",
            running.addr
        )
    );
    let second = tokio::time::timeout(GUARD, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, format!("heartbeat {DOMAIN}"));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), running.task)
        .await
        .unwrap()
        .unwrap();
    stop.cancel();
}
