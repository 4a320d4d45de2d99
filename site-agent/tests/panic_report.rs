//! The panic hook of `maestro-site` (`site_agent::panic_report::record_panics`): a panic on any
//! thread leaves its report in the data dir. Alone in its test binary: the hook is the
//! process's, and another test's panic would write a report too.

use site_agent::panic_report;

#[test]
fn a_panic_on_any_thread_leaves_one_line_saying_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    panic_report::record_panics(dir.path());
    assert_eq!(panic_report::take(dir.path()), None);

    let line = line!() + 3;
    let joined = std::thread::Builder::new()
        .name("sync".into())
        .spawn(|| panic!("blueprint {} has no\nname", 7))
        .unwrap()
        .join();
    assert!(joined.is_err(), "the thread panicked");

    let report = panic_report::take(dir.path()).expect("a report");
    let place = format!("site-agent/tests/panic_report.rs:{line}:");
    assert!(report.contains("thread 'sync' panicked at "), "{report}");
    assert!(report.contains(&place), "{report}");
    assert!(report.ends_with(": blueprint 7 has no name"), "{report}");
    // It starts with the time of the panic.
    let year = &report[..4];
    assert!(year.parse::<u32>().is_ok_and(|y| y >= 2024), "{report}");

    panic_report::forget(dir.path()).unwrap();
    assert_eq!(panic_report::take(dir.path()), None);

    // A second panic replaces nothing that is gone and leaves its own report.
    let joined = std::thread::spawn(|| panic!("{}", "x".repeat(10_000))).join();
    assert!(joined.is_err());
    let report = panic_report::take(dir.path()).expect("a report");
    assert!(
        report.len() <= panic_report::MAX_REPORT_BYTES,
        "{}",
        report.len()
    );
    assert!(report.ends_with('…'), "cut and marked");
}
