//! One long-lived gRPC channel per registered domain, shared by everything that talks to
//! domains (delivery, status watchers, log streams). A channel is created on first use and
//! replaced when the registry holds a new endpoint for the domain; a tonic channel reconnects
//! by itself, so a domain that restarts on the same endpoint keeps its channel.

use crate::error::StoreError;
use crate::registry::DomainRegistry;
use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tonic::transport::Channel;

/// Why no channel to a domain could be had.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] StoreError),
    /// The domain is not registered.
    #[error("domain {0} is not registered")]
    NotRegistered(String),
    /// The registered endpoint is not a usable URI.
    #[error("domain {domain} endpoint {endpoint}: {source}")]
    Endpoint {
        /// The domain.
        domain: String,
        /// Its registered endpoint.
        endpoint: String,
        /// Why tonic refused it.
        source: tonic::transport::Error,
    },
}

/// Channels to domains by id, each with the endpoint it was made for.
#[derive(Debug, Clone)]
pub struct DomainChannels {
    registry: DomainRegistry,
    tls: Option<TlsSource>,
    open: Arc<Mutex<HashMap<String, (String, Channel)>>>,
}

impl DomainChannels {
    /// Channels to the domains of `registry`, mutual TLS with `tls` (each domain's server must
    /// present the certificate of that domain).
    pub fn new(registry: DomainRegistry, tls: Option<TlsSource>) -> Self {
        Self {
            registry,
            tls,
            open: Arc::default(),
        }
    }

    /// The channel to `domain` at its registered endpoint (made lazily: connecting happens on
    /// the first request, and again after the connection is lost).
    pub fn channel(&self, domain: &str) -> Result<Channel, ChannelError> {
        let record = self
            .registry
            .get(domain)?
            .ok_or_else(|| ChannelError::NotRegistered(domain.to_string()))?;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((endpoint, channel)) = open.get(domain)
            && *endpoint == record.endpoint
        {
            return Ok(channel.clone());
        }
        let endpoint_error = |source| ChannelError::Endpoint {
            domain: domain.to_string(),
            endpoint: record.endpoint.clone(),
            source,
        };
        let expect = match &self.tls {
            Some(_) => Some(Role::Domain {
                domain: ResourceName::parse("domain", domain)
                    .map_err(|e| ChannelError::NotRegistered(format!("{domain} ({e})")))?,
            }),
            None => None,
        };
        let channel =
            maestro_common::grpc::channel_with(&record.endpoint, self.tls.as_ref(), expect)
                .map_err(endpoint_error)?;
        tracing::debug!(domain, endpoint = %record.endpoint, "new channel to the domain");
        open.insert(domain.to_string(), (record.endpoint, channel.clone()));
        Ok(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::DomainRegistration;
    use futures::StreamExt;
    use maestro_proto::domain::v1 as dpb;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio_stream::wrappers::TcpListenerStream;
    use tokio_util::sync::CancellationToken;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    /// A gRPC server (health only) on loopback that counts the connections it accepts.
    async fn server(stop: &CancellationToken) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let incoming = TcpListenerStream::new(listener).inspect(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        });
        let (_reporter, health) = tonic_health::server::health_reporter();
        let stop = stop.clone().cancelled_owned();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(incoming, stop),
        );
        (url, accepted)
    }

    async fn register(registry: &DomainRegistry, endpoint: &str) {
        let reg = DomainRegistration::try_from(dpb::RegisterDomainRequest {
            id: "north".into(),
            endpoint: endpoint.into(),
            ..Default::default()
        })
        .unwrap();
        registry.register(reg, 1).await.unwrap();
    }

    async fn call(channels: &DomainChannels) {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let channel = channels.channel("north").unwrap();
        HealthClient::new(channel).check(request).await.unwrap();
    }

    #[tokio::test]
    async fn one_connection_per_domain_across_calls_and_a_new_one_for_a_new_endpoint() {
        let stop = CancellationToken::new();
        let (first, first_accepted) = server(&stop).await;
        let (second, second_accepted) = server(&stop).await;
        let db = sled::Config::new().temporary(true).open().unwrap();
        let registry = DomainRegistry::open(&db, 60_000).unwrap();
        let channels = DomainChannels::new(registry.clone(), None);
        assert!(matches!(
            channels.channel("north"),
            Err(ChannelError::NotRegistered(_))
        ));

        register(&registry, &first).await;
        for _ in 0..3 {
            call(&channels).await;
        }
        assert_eq!(first_accepted.load(Ordering::SeqCst), 1);

        register(&registry, &second).await;
        for _ in 0..3 {
            call(&channels).await;
        }
        assert_eq!(second_accepted.load(Ordering::SeqCst), 1);
        assert_eq!(first_accepted.load(Ordering::SeqCst), 1);
        stop.cancel();
    }
}
