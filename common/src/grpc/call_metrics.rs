//! `rpc.server.call.duration` (seconds) for every call a Maestro server answers, with the
//! semantic conventions' attributes: `rpc.system` (`grpc`), `rpc.service`, `rpc.method` and
//! `rpc.grpc.status_code`. The duration runs until the reply's head (a stream's start). A call
//! to a method the server does not have is counted under `rpc.method` `_OTHER`, so a caller
//! cannot make new series by inventing names.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

/// Bucket bounds in seconds, from a loopback call to a slow Git push behind it.
const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram() -> &'static Histogram<f64> {
    static H: OnceLock<Histogram<f64>> = OnceLock::new();
    H.get_or_init(|| {
        crate::telemetry::metrics::meter()
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description(
                "Duration of the gRPC calls this server answered, until the reply's head",
            )
            .with_boundaries(BOUNDS.to_vec())
            .build()
    })
}

/// The layer that times every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMetricsLayer;

impl<S> tower::Layer<S> for CallMetricsLayer {
    type Service = CallMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallMetrics { inner }
    }
}

/// A service timed by [`CallMetricsLayer`].
#[derive(Debug, Clone)]
pub struct CallMetrics<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for CallMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let started = Instant::now();
        let reply = self.inner.call(request);
        Box::pin(async move {
            let reply = reply.await;
            if let Ok(r) = &reply {
                record(&path, status_code(r), started.elapsed().as_secs_f64());
            }
            reply
        })
    }
}

/// The reply's gRPC status: in the head for an error answered at once (tonic sends those
/// trailers-only), else OK (a stream's later end is not known here).
fn status_code<R>(reply: &http::Response<R>) -> i64 {
    reply
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn record(path: &str, code: i64, seconds: f64) {
    const UNIMPLEMENTED: i64 = 12;
    let (service, method) = match path.trim_start_matches('/').split_once('/') {
        Some((s, m)) if code != UNIMPLEMENTED && s.len() <= 128 && m.len() <= 128 => {
            (s.to_string(), m.to_string())
        }
        _ => ("_OTHER".to_string(), "_OTHER".to_string()),
    };
    histogram().record(
        seconds,
        &[
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", method),
            KeyValue::new("rpc.grpc.status_code", code),
        ],
    );
}
