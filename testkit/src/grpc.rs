//! In-test gRPC servers on 127.0.0.1 ephemeral ports, and a health probe of a running one.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Router;

/// A gRPC server the test runs in-process; stops when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl TestServer {
    /// Serves `router` (e.g. `Server::builder().add_service(svc)`) on 127.0.0.1:0.
    pub async fn start(router: Router) -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0".parse()?, router).await
    }

    /// Serves `router` on `addr` (an address a test reserved, to bring a "down" server up).
    pub async fn start_on(addr: SocketAddr, router: Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let task = tokio::spawn(
            router.serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned()),
        );
        Ok(Self {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// Its URL, `http://addr`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token that stops the server when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops serving without waiting for open streams to end.
    pub fn cancel(&self) {
        self.stop.cancel();
    }

    /// Stops serving and waits (under [`crate::GUARD`]) until the port is released.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            crate::within("the test server to stop", crate::GUARD, task).await???;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The serving status the standard gRPC health service at `addr` reports for the whole server
/// (plaintext).
pub async fn health(
    addr: &str,
) -> anyhow::Result<tonic_health::pb::health_check_response::ServingStatus> {
    health_with(addr, None).await
}

/// [`health`] over mutual TLS with the client material of `tls` when given.
pub async fn health_with(
    addr: &str,
    tls: Option<&maestro_common::tls::TlsSettings>,
) -> anyhow::Result<tonic_health::pb::health_check_response::ServingStatus> {
    use tonic_health::pb::HealthCheckRequest;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("{scheme}://{addr}")
    };
    let tls = match tls {
        Some(settings) => maestro_common::tls::TlsSource::load(settings)?,
        None => None,
    };
    let channel = maestro_common::grpc::channel_with(&url, tls.as_ref(), None)?;
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    Ok(reply.status())
}
