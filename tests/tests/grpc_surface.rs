//! Every gRPC server of a federation answers gRPC health checks and lists its services through
//! server reflection, so `grpcurl` works against each of them.

use maestro_cli::dev::{DevOptions, start_federation};
use maestro_common::tls::TlsSource;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// A channel as an operator of the federation (health and reflection are open to every client
/// the CA signed; the services behind them check the caller's identity).
fn channel(url: &str, tls: &TlsSource) -> anyhow::Result<tonic::transport::Channel> {
    Ok(maestro_common::grpc::channel_with(url, Some(tls), None)?)
}

async fn listed_services(url: &str, tls: &TlsSource) -> anyhow::Result<Vec<String>> {
    let mut client = ServerReflectionClient::new(channel(url, tls)?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let reply = replies
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("no reflection reply"))??;
    match reply.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => anyhow::bail!("unexpected reflection reply {other:?}"),
    }
}

async fn serving(url: &str, tls: &TlsSource, service: &str) -> anyhow::Result<bool> {
    let mut client = HealthClient::new(channel(url, tls)?);
    let reply = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await?
        .into_inner();
    Ok(reply.status() == ServingStatus::Serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_has_health_and_reflection() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut opts = DevOptions::new(dir.path().to_path_buf());
    opts.domains = 1;
    opts.sites_per_domain = 1;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut fed = maestro_testkit::within(
        "the dev federation to start",
        Duration::from_secs(60),
        start_federation(opts, shutdown.clone()),
    )
    .await??;
    let domain = &fed.domains[0];
    let operator = fed.tls.as_ref().map(|t| t.operator.clone());
    let tls = TlsSource::load(&operator.expect("the dev federation runs mutual TLS"))?
        .expect("TLS material");
    let servers = [
        (
            fed.maestro_url.clone(),
            vec![
                "maestro.order.v1.OrderService",
                "maestro.catalog.v1.CatalogService",
                "maestro.domain.v1.DomainRegistry",
                "maestro.audit.v1.AuditService",
            ],
        ),
        (
            domain.endpoint.clone(),
            vec![
                "maestro.intent.v1.IntentService",
                "maestro.audit.v1.AuditService",
            ],
        ),
        (
            domain.log_server_url.clone(),
            vec!["maestro.logs.v1.LogService"],
        ),
    ];
    for (url, expected) in servers {
        let listed = listed_services(&url, &tls).await?;
        for service in &expected {
            assert!(
                listed.iter().any(|s| s == service),
                "{url} lists {listed:?}, missing {service}"
            );
            assert!(
                serving(&url, &tls, service).await?,
                "{service} at {url} is SERVING"
            );
        }
        assert!(
            listed.iter().any(|s| s == "grpc.health.v1.Health"),
            "{url} lists Health: {listed:?}"
        );
        assert!(
            serving(&url, &tls, "").await?,
            "{url} reports overall SERVING"
        );
    }
    let report = fed.stop().await;
    assert!(report.timed_out.is_empty(), "{report:?}");
    Ok(())
}
