//! A plaintext gRPC health endpoint for an orchestrator's probes (config key `health_listen`).
//! Kubernetes' `grpc:` probe cannot present a client certificate, and every Maestro server
//! requires one, so a component can also answer `grpc.health.v1.Health` — and nothing else — on
//! an address of its own: `SERVING` while it runs, `NOT_SERVING` while it starts, restarts to
//! reopen a failed store, or stops. It discloses whether the component serves, nothing more;
//! bind it where only the probe reaches it (the pod's address, loopback).

use std::net::SocketAddr;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

/// The probe endpoint's reporter.
#[derive(Clone)]
pub struct Probe {
    reporter: tonic_health::server::HealthReporter,
    addr: SocketAddr,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("addr", &self.addr).finish()
    }
}

impl Probe {
    /// Binds `addr` and serves health there, `NOT_SERVING` until [`Probe::serving`], until
    /// `shutdown`.
    pub async fn start(addr: SocketAddr, shutdown: CancellationToken) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (reporter, health) = tonic_health::server::health_reporter();
        let probe = Self { reporter, addr };
        probe.serving(false).await;
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(
                    TcpListenerStream::new(listener),
                    shutdown.cancelled_owned(),
                )
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the health probe endpoint failed");
            }
        });
        Ok(probe)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reports the component (the server as a whole, service `""`) serving or not.
    pub async fn serving(&self, yes: bool) {
        let status = if yes {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    async fn status(addr: SocketAddr) -> i32 {
        let mut client =
            HealthClient::new(crate::grpc::channel(&format!("http://{addr}")).unwrap());
        client
            .check(HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner()
            .status
    }

    #[tokio::test]
    async fn the_probe_answers_in_plaintext_and_follows_the_component() {
        let stop = CancellationToken::new();
        let probe = Probe::start("127.0.0.1:0".parse().unwrap(), stop.clone())
            .await
            .unwrap();
        assert_eq!(status(probe.addr()).await, ServingStatus::NotServing as i32);
        probe.serving(true).await;
        assert_eq!(status(probe.addr()).await, ServingStatus::Serving as i32);
        probe.serving(false).await;
        assert_eq!(status(probe.addr()).await, ServingStatus::NotServing as i32);
        stop.cancel();
    }
}
