//! Serving gRPC the same way everywhere: health checking, reflection, size limits, graceful stop.

use crate::tls::TlsMaterial;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

/// Largest request or reply message any Maestro server accepts.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why a gRPC server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptor sets.
    #[error("building reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `routes` on `listener` together with `grpc.health.v1.Health` (each of
/// `service_names` and the server as a whole reported SERVING) and server reflection (v1 and
/// v1alpha), until `shutdown` is cancelled; then stops accepting and drains.
pub async fn serve(
    listener: TcpListener,
    routes: tonic::service::Routes,
    service_names: &[&str],
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    serve_with(listener, routes, service_names, None, shutdown).await
}

/// Like [`serve`]; with `tls`, every connection is mutual TLS (a client without a certificate
/// signed by the CA fails the handshake).
pub async fn serve_with(
    listener: TcpListener,
    routes: tonic::service::Routes,
    service_names: &[&str],
    tls: Option<TlsMaterial>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in service_names {
        reporter
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(maestro_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(maestro_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let routes = routes
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_alpha);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        builder = builder.tls_config(tls.server())?;
    }
    builder
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// Opens a lazy channel to `endpoint` (e.g. `http://127.0.0.1:7001`) with sane timeouts.
pub fn channel(endpoint: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    channel_with(endpoint, None)
}

/// Like [`channel`]; with `tls`, the channel is mutual TLS (`https://` endpoints): it trusts
/// only the CA and presents the component's certificate.
pub fn channel_with(
    endpoint: &str,
    tls: Option<&TlsMaterial>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(endpoint.to_string())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.client(None))?;
    }
    Ok(endpoint
        .connect_timeout(std::time::Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
