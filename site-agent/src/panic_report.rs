//! A panic of the site binary, told to the domain at the next start.
//!
//! The `site` profile that field builds use (`scripts/build-site.sh`) aborts on a panic instead
//! of unwinding: the process ends at once, its supervisor starts it again, and the agent picks
//! up from its database as after a SIGKILL, which it survives by design (`tests/crash.rs`). So
//! that a crash at a site is not seen only on that site's stderr, `maestro-site` installs
//! [`record_panics`]: the hook writes where the panic happened and its message to
//! [`PANIC_FILE`] in the data dir before the process ends. The next start sends the report to
//! the domain as an error log line of source [`SOURCE`] ([`take`]), makes it durable in the
//! outbox, then removes the file ([`forget`]): a crash that repeats is reported after every
//! restart, and a report is never lost to a second crash (at worst sent twice).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use maestro_common::text;

use crate::Error;

/// The report of the last panic, inside the agent's data dir.
pub const PANIC_FILE: &str = "last-panic.txt";
/// The `source` of the log line that carries a report.
pub const SOURCE: &str = "agent";
/// Longest report written or read, in bytes.
pub const MAX_REPORT_BYTES: usize = 2048;

/// Where the panic report of the agent with data dir `data_dir` is.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(PANIC_FILE)
}

/// Installs a panic hook for the whole process that, after the hook installed before it (which
/// prints the panic on stderr), writes the panic's report to [`PANIC_FILE`] in `data_dir`
/// (atomically, replacing an earlier report). For a process that runs one agent: the hook
/// applies to every thread.
pub fn record_panics(data_dir: &Path) {
    let file = path(data_dir);
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        before(info);
        let report = describe(info, maestro_common::time::now_millis());
        // Nothing to do if it cannot be written: the process is ending.
        let _ = maestro_common::durable::write_file(&file, report.as_bytes(), 0o600, true);
    }));
}

/// One line: when, which thread, where, and the panic's message.
fn describe(info: &std::panic::PanicHookInfo<'_>, now_ms: i64) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    let place = info.location().map_or_else(String::new, |l| {
        format!(" at {}:{}:{}", l.file(), l.line(), l.column())
    });
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("unnamed");
    let line = format!(
        "{}: thread '{name}' panicked{place}: {message}",
        maestro_common::time::rfc3339(now_ms)
    );
    text::one_line(&line, MAX_REPORT_BYTES)
}

/// The report left by a panic, if there is one: one line of at most [`MAX_REPORT_BYTES`] bytes
/// (every control character a space). A file that is not a regular file, is larger or cannot be
/// read is reported as such, so that whatever is in its place is seen and then removed.
pub fn take(data_dir: &Path) -> Option<String> {
    let file = path(data_dir);
    let unusable = |why: &str| Some(format!("{} is unusable: {why}", file.display()));
    let meta = match std::fs::symlink_metadata(&file) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) => return unusable(&e.to_string()),
    };
    if !meta.is_file() {
        return unusable("not a regular file");
    }
    if meta.len() > MAX_REPORT_BYTES as u64 {
        return unusable(&format!("larger than {MAX_REPORT_BYTES} bytes"));
    }
    match std::fs::read(&file) {
        Ok(bytes) => Some(text::one_line(
            &String::from_utf8_lossy(&bytes),
            MAX_REPORT_BYTES,
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => unusable(&e.to_string()),
    }
}

/// Removes the report (a file, or whatever stands in its place); no report is fine.
pub fn forget(data_dir: &Path) -> Result<(), Error> {
    let file = path(data_dir);
    let removed = match std::fs::symlink_metadata(&file) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&file),
        Ok(_) => std::fs::remove_file(&file),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", file.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_read_as_one_bounded_line_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(take(dir.path()), None);
        forget(dir.path()).unwrap();
        std::fs::write(path(dir.path()), "at x: boom\n\u{1b}[2Jforged line\u{202E}").unwrap();
        assert_eq!(
            take(dir.path()).as_deref(),
            Some("at x: boom  [2Jforged line ")
        );
        forget(dir.path()).unwrap();
        assert_eq!(take(dir.path()), None);
    }

    #[test]
    fn whatever_stands_in_the_place_of_a_report_is_named_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), vec![b'x'; MAX_REPORT_BYTES + 1]).unwrap();
        let said = take(dir.path()).unwrap();
        assert!(said.contains("larger than 2048 bytes"), "{said}");
        forget(dir.path()).unwrap();
        std::fs::create_dir(path(dir.path())).unwrap();
        std::fs::write(path(dir.path()).join("inside"), "x").unwrap();
        let said = take(dir.path()).unwrap();
        assert!(said.contains("not a regular file"), "{said}");
        forget(dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
        std::fs::write(path(dir.path()), [0xff, 0xfe, b'a']).unwrap();
        assert_eq!(take(dir.path()).as_deref(), Some("\u{fffd}\u{fffd}a"));
    }
}
