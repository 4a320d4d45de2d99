//! Pieces the end-to-end scenarios share.

use crate::nodes::ProcessFederation;
use maestro_testkit::procs::{self, Workload, WorkloadGuard};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `maestro-node` binary (maestroctl under a test-visible name). A macro, because Cargo
/// defines its path only while compiling integration tests.
#[macro_export]
macro_rules! node_bin {
    () => {
        std::path::Path::new(env!("CARGO_BIN_EXE_maestro-node"))
    };
}

/// The default catalog shipped in `examples/catalog`.
pub fn catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/catalog")
}

/// Kills a test's workloads (those of blueprint `service`) when dropped, however the test ends.
/// Declare it before the federation so it runs after the site agents stopped.
pub fn workload_cleanup(service: &str) -> WorkloadGuard {
    WorkloadGuard::new("MAESTRO_BLUEPRINT", service)
}

/// Live workloads of `service`, grouped by the site they run at.
pub fn workloads_per_site(service: &str) -> BTreeMap<String, Vec<Workload>> {
    let mut m = BTreeMap::<String, Vec<_>>::new();
    for w in procs::find("MAESTRO_BLUEPRINT", service) {
        m.entry(w.var("DEMO_SITE").to_string()).or_default().push(w);
    }
    m
}

/// Runs `scenario`; on failure prints every component's log tail.
pub async fn with_logs<F: std::future::Future<Output = anyhow::Result<()>>>(
    fed: &ProcessFederation,
    scenario: F,
) -> anyhow::Result<()> {
    let result = scenario.await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}
