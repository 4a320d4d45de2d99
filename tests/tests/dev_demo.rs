//! The README's first quick-start command: `maestroctl dev --demo` runs a whole federation,
//! submits the demo order and exits 0 once it is completed.

use std::process::Command;

#[test]
fn dev_demo_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(maestro_tests::node_bin!())
        .args(["dev", "--demo", "--demo-timeout", "120", "--data"])
        .arg(dir.path())
        .output()
        .expect("run maestroctl dev --demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.to_lowercase().contains("completed"),
        "stdout:\n{stdout}"
    );
}
