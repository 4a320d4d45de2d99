//! How a test reaches maestro: its endpoint, and the operator certificate it presents when the
//! federation runs mutual TLS.

use maestro_common::identity::Role;
use maestro_common::tls::{TlsSettings, TlsSource};
use tonic::transport::Channel;

/// Maestro's gRPC API as a test's operator sees it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MaestroApi {
    url: String,
    tls: Option<TlsSource>,
}

impl MaestroApi {
    /// Plaintext at `url` (`http://…`).
    pub fn plaintext(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tls: None,
        }
    }

    /// Mutual TLS at `url` (`https://…`) with the operator material of `tls`.
    pub fn tls(url: impl Into<String>, tls: &TlsSettings) -> anyhow::Result<Self> {
        Ok(Self {
            url: url.into(),
            tls: TlsSource::load(tls)?,
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A lazy channel (the server must present maestro's certificate with TLS).
    pub fn channel(&self) -> anyhow::Result<Channel> {
        Ok(maestro_common::grpc::channel_with(
            &self.url,
            self.tls.as_ref(),
            self.tls.as_ref().map(|_| Role::Maestro),
        )?)
    }
}
