//! Tracing and OpenTelemetry set-up, once per process: traces (below) and metrics
//! ([`metrics`], scraped through [`scrape`]).

pub mod context;
pub mod metrics;
pub mod scrape;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Flushes and shuts down the OpenTelemetry pipeline when dropped.
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
        metrics::flush();
    }
}

/// Installs a `tracing` subscriber writing to stderr (filter from `RUST_LOG`, default `info`)
/// and, when `otlp_endpoint` is set, an OTLP/gRPC trace exporter tagged with `service_name`.
/// Must be called inside a Tokio runtime. A second call in the same process is a no-op.
pub fn init(service_name: &str, otlp_endpoint: Option<&str>) -> TelemetryGuard {
    metrics::set_service(service_name);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let provider = otlp_endpoint.and_then(|endpoint| {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.to_string())
            .build()
            .ok()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_string())
            .build();
        Some(
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        )
    });
    let otel = provider.as_ref().map(|p| {
        let otel_filter = EnvFilter::new("info,h2=off,tower=off,hyper=off,tonic=off");
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service_name.to_string()))
            .with_filter(otel_filter)
    });
    use tracing_subscriber::Layer as _;
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    TelemetryGuard { provider }
}
