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

/// The whole audit export (`ExportAudit`) of the server behind `channel`, within a minute.
pub async fn audit_export(channel: Channel) -> anyhow::Result<maestro_common::audit::Export> {
    use maestro_proto::audit::v1::ExportAuditRequest;
    use maestro_proto::audit::v1::audit_service_client::AuditServiceClient;
    let read = async {
        let mut stream = AuditServiceClient::new(channel)
            .export_audit(ExportAuditRequest {})
            .await?
            .into_inner();
        let mut chunks = Vec::new();
        while let Some(c) = stream.message().await? {
            chunks.push(c);
        }
        anyhow::Ok(chunks)
    };
    let chunks = tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .map_err(|_| anyhow::anyhow!("the audit export did not end within 60 s"))??;
    Ok(maestro_common::audit::Export::from_chunks(chunks)?)
}
