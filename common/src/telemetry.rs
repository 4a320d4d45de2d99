//! Tracing and OpenTelemetry set-up, once per process: traces (below) and metrics
//! ([`metrics`], scraped through [`scrape`]).

pub mod context;
pub mod metrics;
pub mod scrape;

use opentelemetry::trace::TracerProvider as _;
use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

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

/// The stderr log filter from `RUST_LOG`: comma-separated `LEVEL` and `TARGET=LEVEL` directives
/// (e.g. `info,site_agent=debug,h2=off`; a target matches itself and the modules under it).
/// Unset or empty is `info`; a value that does not parse is `info` too, and `Err` says why.
///
/// Deliberately [`Targets`], not `EnvFilter`: the same directive syntax without span and field
/// filters, and without the regular expression engine those bring into every binary (a few hundred
/// KiB of code, most of it resident in the small site agent).
pub fn log_filter(rust_log: Option<&str>) -> (Targets, Result<(), String>) {
    let default = || Targets::new().with_default(Level::INFO);
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (default(), Ok(())),
        Some(text) => match text.parse::<Targets>() {
            Ok(targets) => (targets, Ok(())),
            Err(e) => (
                default(),
                Err(format!("RUST_LOG {text:?} ignored ({e}); logging at info")),
            ),
        },
    }
}

/// Installs a `tracing` subscriber writing to stderr (filter from `RUST_LOG`, see [`log_filter`])
/// and, when `otlp_endpoint` is set, an OTLP/gRPC trace exporter tagged with `service_name`.
/// Must be called inside a Tokio runtime. A second call in the same process is a no-op.
pub fn init(service_name: &str, otlp_endpoint: Option<&str>) -> TelemetryGuard {
    metrics::set_service(service_name);
    let (filter, parsed) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
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
        let otel_filter = Targets::new()
            .with_default(Level::INFO)
            .with_targets(["h2", "tower", "hyper", "tonic"].map(|t| (t, LevelFilter::OFF)));
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
    if let Err(why) = parsed {
        tracing::warn!("{why}");
    }
    TelemetryGuard { provider }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_directives_set_levels_by_target() {
        let (f, ok) = log_filter(None);
        assert!(ok.is_ok());
        assert!(f.would_enable("site_agent::gitsync", &Level::INFO));
        assert!(!f.would_enable("site_agent::gitsync", &Level::DEBUG));
        let (f, ok) = log_filter(Some("warn,site_agent::gitsync=debug,h2=off"));
        assert!(ok.is_ok());
        assert!(f.would_enable("site_agent::gitsync::fetch", &Level::DEBUG));
        assert!(!f.would_enable("site_agent::outbox", &Level::INFO));
        assert!(f.would_enable("site_agent::outbox", &Level::WARN));
        assert!(!f.would_enable("h2::proto", &Level::ERROR));
        let (f, ok) = log_filter(Some("  "));
        assert!(ok.is_ok() && f.default_level() == Some(LevelFilter::INFO));
    }

    #[test]
    fn a_rust_log_that_does_not_parse_falls_back_to_info_and_says_so() {
        let (f, why) = log_filter(Some("site_agent=loud"));
        assert!(f.would_enable("site_agent", &Level::INFO));
        assert!(!f.would_enable("site_agent", &Level::DEBUG));
        assert!(why.unwrap_err().contains("site_agent=loud"));
    }
}
