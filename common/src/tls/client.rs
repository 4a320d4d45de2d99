//! The client side: a connector that dials TCP and handshakes mutual TLS with the current
//! material of a [`TlsSource`], so a channel that reconnects after a reload uses the new
//! certificate without being rebuilt.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::TlsSource;
use crate::identity::{PeerIdentity, Role};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower service from an endpoint URI to a mutual-TLS connection; the server's certificate
/// must chain to the CA, name the endpoint's host (or the configured `server_name`), and, with
/// `expect`, name that identity in this component's trust domain (so a registered endpoint
/// cannot lead to another component).
pub fn connector(
    tls: TlsSource,
    connect_timeout: Duration,
    expect: Option<Role>,
) -> impl tower::Service<
    http::Uri,
    Response = TokioIo<TlsStream<TcpStream>>,
    Error = BoxError,
    Future = impl Future<Output = Result<TokioIo<TlsStream<TcpStream>>, BoxError>> + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |uri: http::Uri| {
        let tls = tls.clone();
        let expect = expect.clone();
        async move {
            let host = uri
                .host()
                .ok_or_else(|| format!("endpoint {uri} has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let name = tls.server_name().unwrap_or(&host).to_string();
            let name = ServerName::try_from(name.clone())
                .map_err(|_| format!("{name:?} is not a DNS name or an IP address"))?;
            let tcp =
                tokio::time::timeout(connect_timeout, TcpStream::connect((host.as_str(), port)))
                    .await
                    .map_err(|_| format!("connecting to {host}:{port} timed out"))??;
            let _ = tcp.set_nodelay(true);
            let stream = tokio::time::timeout(
                connect_timeout,
                TlsConnector::from(tls.client_config()).connect(name, tcp),
            )
            .await
            .map_err(|_| format!("TLS handshake with {host}:{port} timed out"))??;
            if let Some(role) = &expect {
                check_server(&stream, &tls, role)
                    .map_err(|e| format!("server at {host}:{port}: {e}"))?;
            }
            Ok::<_, BoxError>(TokioIo::new(stream))
        }
    })
}

/// Checks that the server's verified certificate names `role` in our trust domain.
fn check_server(stream: &TlsStream<TcpStream>, tls: &TlsSource, role: &Role) -> Result<(), String> {
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("presented no certificate")?;
    let found = PeerIdentity::from_certificate(leaf.as_ref()).map_err(|e| e.to_string())?;
    let trust_domain = tls.identity().trust_domain;
    if found.role != *role || found.trust_domain != trust_domain {
        return Err(format!(
            "is {found}, expected {role} of trust domain {trust_domain}"
        ));
    }
    Ok(())
}
