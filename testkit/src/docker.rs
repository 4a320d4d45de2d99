//! The Docker Engine the Docker tests need, provided by the project's `scripts/docker.sh`.

use std::sync::OnceLock;

/// The engine socket `scripts/docker.sh` provides.
pub const SOCKET: &str = "/var/run/docker.sock";

/// Runs `scripts/docker.sh` (an engine on [`SOCKET`] and the local busybox images) once per test
/// binary; panics with the script's output when it fails, so a test never passes without an
/// engine.
pub fn ensure_docker() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let result = READY.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/docker.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .output()
            .map_err(|e| format!("cannot run {script}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{script} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    });
    if let Err(e) = result {
        panic!("a Docker Engine is required for this test and could not be provided: {e}");
    }
}
