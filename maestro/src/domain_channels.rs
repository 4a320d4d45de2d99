//! One long-lived gRPC channel per registered domain, shared by everything that talks to
//! domains (delivery, status watchers, log streams). A channel is created on first use and
//! replaced when the registry holds a new endpoint for the domain; a tonic channel reconnects
//! by itself, so a domain that restarts on the same endpoint keeps its channel.

use crate::error::StoreError;
use crate::registry::DomainRegistry;
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
    open: Arc<Mutex<HashMap<String, (String, Channel)>>>,
}

impl DomainChannels {
    /// Channels to the domains of `registry`.
    pub fn new(registry: DomainRegistry) -> Self {
        Self {
            registry,
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
        let channel = maestro_common::grpc::channel(&record.endpoint).map_err(|source| {
            ChannelError::Endpoint {
                domain: domain.to_string(),
                endpoint: record.endpoint.clone(),
                source,
            }
        })?;
        tracing::debug!(domain, endpoint = %record.endpoint, "new channel to the domain");
        open.insert(domain.to_string(), (record.endpoint, channel.clone()));
        Ok(channel)
    }
}
