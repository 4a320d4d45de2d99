//! Serving gRPC the same way everywhere: health checking, reflection, size limits, graceful stop,
//! and `INVALID_ARGUMENT` for a request that does not decode ([`malformed`]).

pub mod call_metrics;
pub mod malformed;
pub mod probe;

use crate::identity::Role;
use crate::tls::TlsSource;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
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
/// signed by the CA fails the handshake), with the material current at each handshake, and each
/// request carries its caller's [`crate::tls::PeerInfo`].
pub async fn serve_with(
    listener: TcpListener,
    routes: tonic::service::Routes,
    service_names: &[&str],
    tls: Option<TlsSource>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    serve_with_keepalive(
        listener,
        routes,
        service_names,
        tls,
        KEEPALIVE_INTERVAL,
        shutdown,
    )
    .await
}

/// Like [`serve_with`], pinging a connection after `keepalive` without a frame from the client
/// instead of [`KEEPALIVE_INTERVAL`] (a server whose clients send on their own at a known rate
/// need not ping them as often).
pub async fn serve_with_keepalive(
    listener: TcpListener,
    routes: tonic::service::Routes,
    service_names: &[&str],
    tls: Option<TlsSource>,
    keepalive: Duration,
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
    let router = tonic::transport::Server::builder()
        // Servers ping too, so that a stream to a client whose link went silent is dropped
        // (and its subscriber slot freed) rather than kept for ever.
        .http2_keepalive_interval(Some(keepalive))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .layer(call_metrics::CallMetricsLayer)
        .layer(tower::util::MapResponseLayer::new(
            malformed::invalid_argument_for_malformed::<tonic::body::Body>,
        ))
        .add_routes(routes);
    match tls {
        Some(tls) => {
            let incoming = crate::tls::server::incoming(listener, tls, shutdown.clone());
            router
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await?
        }
        None => {
            // As on the TLS path: without TCP_NODELAY a new connection's first reply waits for
            // a delayed acknowledgement (about 40 ms, measured by bench-tls-handshake).
            let incoming = TcpListenerStream::new(listener).map(|conn| {
                if let Ok(c) = &conn {
                    let _ = c.set_nodelay(true);
                }
                conn
            });
            router
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await?
        }
    }
    Ok(())
}

/// Opens a lazy channel to `endpoint` (e.g. `http://127.0.0.1:7001`) with sane timeouts.
pub fn channel(endpoint: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    channel_with(endpoint, None, None)
}

/// Like [`channel`]; with `tls`, the channel is mutual TLS: it trusts only the CA, presents the
/// component's certificate, and picks up reloaded material when it reconnects.
///
/// With `expect`, the server must also present a certificate naming that identity.
pub fn channel_with(
    endpoint: &str,
    tls: Option<&TlsSource>,
    expect: Option<Role>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    channel_with_keepalive(endpoint, tls, expect, KEEPALIVE_INTERVAL)
}

/// Like [`channel_with`], pinging the server after `keepalive` without a frame from it instead of
/// [`KEEPALIVE_INTERVAL`] (on a metered link where the calls themselves keep it busy).
pub fn channel_with_keepalive(
    endpoint: &str,
    tls: Option<&TlsSource>,
    expect: Option<Role>,
    keepalive: Duration,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    // With TLS, the connector speaks it whatever the scheme says; tonic is told `http` so that
    // it does not look for its own TLS stack.
    let endpoint = match (tls, endpoint.strip_prefix("https://")) {
        (Some(_), Some(rest)) => format!("http://{rest}"),
        _ => endpoint.to_string(),
    };
    let endpoint = tonic::transport::Endpoint::from_shared(endpoint)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_DEADLINE)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(keepalive)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    Ok(match tls {
        Some(tls) => endpoint.connect_with_connector_lazy(crate::tls::client::connector(
            tls.clone(),
            CONNECT_TIMEOUT,
            expect,
        )),
        None => endpoint.connect_lazy(),
    })
}

/// Longest time to open a connection (TCP and, with TLS, the handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Deadline of every call a Maestro client makes: a unary call must be answered, and a stream
/// must have started (its headers received), within it. A call on a connection that died
/// silently fails with `CANCELLED`/`DEADLINE_EXCEEDED` instead of waiting for ever, and the
/// caller's own retry takes over.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// How often both ends of a connection ping an idle HTTP/2 connection.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How long a ping may go unanswered before the connection is closed as dead (a link that drops
/// packets without a reset). A long watch stream on a dead link is noticed within
/// [`KEEPALIVE_INTERVAL`] + this, and the client reconnects.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
