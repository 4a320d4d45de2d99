//! Registration with maestro's `DomainRegistry`: register (retrying with backoff while maestro
//! is down), then heartbeat; re-register when maestro forgot the domain, or when the catalog
//! the domain publishes changed (it is re-read at every heartbeat). Never blocks serving.

use crate::offered::Offered;
use maestro_common::backoff::{Backoff, pause};
use maestro_common::tls::TlsSource;
use maestro_proto::domain::v1::{
    HeartbeatRequest, RegisterDomainRequest, domain_registry_client::DomainRegistryClient,
};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What maestro is told about this domain.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Maestro's endpoint.
    pub maestro: String,
    /// The registration request.
    pub request: RegisterDomainRequest,
    /// Interval between heartbeats.
    pub heartbeat: Duration,
    /// Mutual TLS with maestro (`None`: plaintext).
    pub tls: Option<TlsSource>,
    /// What the domain's sites have free now, sent with every heartbeat.
    pub capacity: Option<crate::capacity::CapacitySource>,
    /// The catalog the domain publishes, re-read at every heartbeat.
    pub offered: Arc<Offered>,
}

/// Registers and heartbeats until `shutdown`.
pub async fn register_and_heartbeat(mut reg: Registration, shutdown: CancellationToken) {
    let channel = match maestro_common::grpc::channel_with(
        &reg.maestro,
        reg.tls.as_ref(),
        Some(maestro_common::identity::Role::Maestro),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(endpoint = %reg.maestro, error = %e, "invalid maestro endpoint; not registering");
            return;
        }
    };
    let mut client = DomainRegistryClient::new(channel);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let heartbeat = reg.heartbeat.max(Duration::from_millis(10));
    // The last catalog error logged, so a broken file is reported once, not every heartbeat.
    let mut catalog_error: Option<String> = None;
    'register: while !shutdown.is_cancelled() {
        match client.register_domain(reg.request.clone()).await {
            Ok(_) => {
                tracing::info!(domain = %reg.request.id, endpoint = %reg.request.endpoint, "registered with maestro");
                backoff.reset();
            }
            Err(e) => {
                tracing::warn!(domain = %reg.request.id, error = %e, "registering with maestro failed; retrying");
                if backoff.wait(&shutdown).await {
                    return;
                }
                continue;
            }
        }
        loop {
            if pause(heartbeat, &shutdown).await {
                return;
            }
            match reg.offered.reload() {
                Ok(true) => {
                    tracing::info!(domain = %reg.request.id, "the published catalog changed; registering again");
                    reg.request.catalog_json = reg.offered.documents();
                    continue 'register;
                }
                Ok(false) => catalog_error = None,
                Err(e) => {
                    let e = e.to_string();
                    if catalog_error.as_ref() != Some(&e) {
                        tracing::warn!(domain = %reg.request.id, error = %e, "the catalog does not load; the last good one stays published");
                        catalog_error = Some(e);
                    }
                }
            }
            match client
                .heartbeat(HeartbeatRequest {
                    id: reg.request.id.clone(),
                    capacity: reg.capacity.as_ref().map(|f| (f.0)()),
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == tonic::Code::NotFound => {
                    tracing::warn!(domain = %reg.request.id, "maestro does not know this domain; registering again");
                    continue 'register;
                }
                Err(e) => {
                    tracing::warn!(domain = %reg.request.id, error = %e, "heartbeat to maestro failed")
                }
            }
        }
    }
}
