//! Metrics: one OpenTelemetry meter provider per process, read two ways — scraped by
//! Prometheus from the text endpoint ([`super::scrape`]) and, when an OTLP endpoint is set
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`), pushed over OTLP/gRPC every 15 s.
//!
//! Instruments are named after the OpenTelemetry semantic conventions (`rpc.server.call.duration`
//! in seconds, ...) or, for Maestro's own, `maestro.<component>.<what>` with a UCUM unit;
//! Prometheus sees them with dots turned into underscores and the unit as a suffix
//! (`maestro_orders_created_total`, `rpc_server_call_duration_seconds`).

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::OnceLock;

/// The meter of every Maestro instrument.
const SCOPE: &str = "maestro";

/// The service name the metrics carry; set by [`set_service`] before the first instrument.
static SERVICE: OnceLock<String> = OnceLock::new();

struct Metrics {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let registry = prometheus::Registry::new();
        let service = SERVICE.get().cloned().unwrap_or_else(|| "maestro".into());
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .build();
        let mut builder = SdkMeterProvider::builder().with_resource(resource);
        match opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
        {
            Ok(reader) => builder = builder.with_reader(reader),
            Err(e) => tracing::error!(error = %e, "metrics for Prometheus are off"),
        }
        if let Some(reader) = otlp_reader() {
            builder = builder.with_reader(reader);
        }
        Metrics {
            registry,
            provider: builder.build(),
        }
    })
}

/// A periodic OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (needs a Tokio runtime).
fn otlp_reader()
-> Option<opentelemetry_sdk::metrics::PeriodicReader<opentelemetry_otlp::MetricExporter>> {
    use opentelemetry_otlp::WithExportConfig;
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())?;
    tokio::runtime::Handle::try_current().ok()?;
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .ok()?;
    Some(
        opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
            .with_interval(std::time::Duration::from_secs(15))
            .build(),
    )
}

/// Names the service the metrics are about (`maestro`, `domain-orchestrator`, ...); only the
/// first call counts, and only before the first instrument is made.
pub fn set_service(name: &str) {
    let _ = SERVICE.set(name.to_string());
}

/// The meter to make instruments with.
pub fn meter() -> Meter {
    metrics().provider.meter(SCOPE)
}

/// Every metric in the Prometheus text format (version 0.0.4).
pub fn render() -> String {
    use prometheus::Encoder as _;
    let families = metrics().registry.gather();
    let mut out = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut out) {
        tracing::warn!(error = %e, "encoding metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Pushes what is pending over OTLP (at shutdown).
pub fn flush() {
    let _ = metrics().provider.force_flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[test]
    fn an_instrument_shows_in_the_text_format_with_its_labels_and_unit() {
        let counter = meter()
            .u64_counter("maestro.test.things")
            .with_unit("{thing}")
            .with_description("Things counted by a test")
            .build();
        counter.add(3, &[KeyValue::new("kind", "a")]);
        let hist = meter()
            .f64_histogram("maestro.test.duration")
            .with_unit("s")
            .build();
        hist.record(0.25, &[]);
        let text = render();
        assert!(text.contains("maestro_test_things_total{"), "{text}");
        assert!(text.contains("kind=\"a\""), "{text}");
        assert!(
            text.contains("maestro_test_duration_seconds_count"),
            "{text}"
        );
    }
}
