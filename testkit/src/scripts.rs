//! The project's setup scripts (`scripts/*.sh`), run from tests: each at most once per test
//! binary, and a failure panics with the script's output, so a test never passes without what
//! the script provides.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Runs `scripts/<script>` once per test binary; panics naming `what` (what the test needs) with
/// the script's output when it fails.
pub fn ensure(script: &str, what: &str) {
    static RESULTS: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let mut results = RESULTS.lock().unwrap_or_else(|p| p.into_inner());
    let result = results
        .entry(script.to_string())
        .or_insert_with(|| run(script))
        .clone();
    drop(results);
    if let Err(e) = result {
        panic!("{what} is required for this test and could not be provided: {e}");
    }
}

fn run(script: &str) -> Result<(), String> {
    let path = format!("{}/../scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(&path)
        .output()
        .map_err(|e| format!("cannot run {path}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{path} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
