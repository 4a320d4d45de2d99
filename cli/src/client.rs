//! gRPC clients of maestro and of domain orchestrators, with the call timeout applied.

use crate::error::{CliError, CliResult};
use crate::settings::Settings;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_proto::audit::v1::audit_service_client::AuditServiceClient;
use maestro_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use maestro_proto::domain::v1::domain_registry_client::DomainRegistryClient;
use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
use maestro_proto::order::v1::order_service_client::OrderServiceClient;
use std::future::Future;
use std::time::Duration;
use tonic::transport::Channel;

/// Largest reply accepted (the servers' limit).
const MAX_MESSAGE_BYTES: usize = maestro_common::grpc::MAX_MESSAGE_BYTES;

/// Opens a lazy channel to `endpoint`; a malformed URL is a configuration error.
pub fn channel(endpoint: &str) -> CliResult<Channel> {
    maestro_common::grpc::channel(endpoint)
        .map_err(|e| CliError::Config(format!("invalid endpoint {endpoint:?}: {e}")))
}

/// Clients of one maestro.
#[derive(Debug, Clone)]
pub struct MaestroClient {
    endpoint: String,
    timeout: Duration,
    channel: Channel,
}

impl MaestroClient {
    /// Clients for the endpoint, timeout and TLS of `settings` (with TLS, the server must
    /// present maestro's certificate).
    pub fn new(settings: &Settings) -> CliResult<Self> {
        let channel = match &settings.tls {
            None => channel(&settings.maestro)?,
            Some(tls) => {
                let tls = TlsSource::load(tls)
                    .map_err(|e| CliError::Config(format!("settings: tls: {e}")))?;
                maestro_common::grpc::channel_with(
                    &settings.maestro,
                    tls.as_ref(),
                    Some(Role::Maestro),
                )
                .map_err(|e| {
                    CliError::Config(format!("invalid endpoint {:?}: {e}", settings.maestro))
                })?
            }
        };
        Ok(Self {
            endpoint: settings.maestro.clone(),
            timeout: settings.timeout,
            channel,
        })
    }

    /// The order service.
    pub fn orders(&self) -> OrderServiceClient<Channel> {
        OrderServiceClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The domain registry.
    pub fn domains(&self) -> DomainRegistryClient<Channel> {
        DomainRegistryClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The audit log.
    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The catalog.
    pub fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Runs one call to maestro with the timeout; errors are classified.
    pub async fn call<T>(
        &self,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> CliResult<T> {
        call(&format!("maestro at {}", self.endpoint), self.timeout, fut).await
    }

    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// An intent service client of a domain orchestrator.
pub fn intents(endpoint: &str) -> CliResult<IntentServiceClient<Channel>> {
    Ok(IntentServiceClient::new(channel(endpoint)?).max_decoding_message_size(MAX_MESSAGE_BYTES))
}

/// Runs `fut` with `timeout`: a timeout is "unavailable" (exit 5), a status is classified by code.
pub async fn call<T>(
    what: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> CliResult<T> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(CliError::Unavailable(format!(
            "{what}: no answer within {}",
            humanize(timeout)
        ))),
        Ok(Err(status)) => Err(CliError::from_status(what, &status)),
        Ok(Ok(resp)) => Ok(resp.into_inner()),
    }
}

fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
