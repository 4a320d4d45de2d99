//! Logging of tests into their captured output.

/// Sends `tracing` events to the test's captured output (shown for failing tests) with
/// `default_filter` unless `RUST_LOG` is set; later calls in the same binary do nothing.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
