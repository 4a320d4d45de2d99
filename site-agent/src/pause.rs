//! The site's local pause: a site operator holds disruptive changes at the site. While paused,
//! the agent keeps running what it runs and applies no new commit (it still fetches, and still
//! re-checks the commit it applied); every heartbeat says why (`paused`) and since when
//! (`paused_since`). Lifting the pause applies the latest commit at the next sync.
//!
//! The pause is the file [`PAUSE_FILE`] in the agent's data dir, `{"reason": …, "since_ms": …}`,
//! written and removed by `maestro-site pause --reason TEXT` and `maestro-site resume`, and read
//! by the sync at every cycle: it takes effect without restarting the agent. A pause file that
//! cannot be read or is invalid still pauses (whoever wrote it meant to pause), with a reason
//! that says so.

use std::path::{Path, PathBuf};

use maestro_common::{FieldError, text};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The pause file, inside the agent's data dir.
pub const PAUSE_FILE: &str = "pause.json";
/// Longest reason, in bytes (what a heartbeat carries).
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest pause file read.
const MAX_FILE_BYTES: u64 = 4096;

/// A local pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// Why, as the site's operator said it: one line of at most [`MAX_REASON_BYTES`] bytes.
    pub reason: String,
    /// Since when (ms since the epoch).
    pub since_ms: i64,
}

/// Checks a pause reason: not blank, one line (`maestro_common::text`: no control or
/// bidirectional formatting character) of at most [`MAX_REASON_BYTES`] bytes. The error names
/// the field `reason`.
pub fn validate_reason(reason: &str) -> Result<(), FieldError> {
    if reason.trim().is_empty() {
        return Err(FieldError::new(
            "reason",
            "required (why the site is paused)",
        ));
    }
    text::check_text("reason", reason, MAX_REASON_BYTES, text::Lines::One)
}

/// Parses the content of a pause file; the error names the field.
pub fn parse(bytes: &[u8]) -> Result<Pause, String> {
    let pause: Pause = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    validate_reason(&pause.reason).map_err(|e| e.to_string())?;
    if pause.since_ms < 0 {
        return Err("since_ms: not a time".into());
    }
    Ok(pause)
}

/// Where the pause file of the agent with data dir `data_dir` is.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(PAUSE_FILE)
}

/// The pause in force at the agent with data dir `data_dir`, if any. A pause file that cannot be
/// read or is invalid is a pause too (since the file's last change), whose reason says so.
pub fn read(data_dir: &Path) -> Option<Pause> {
    let file = path(data_dir);
    let meta = match std::fs::symlink_metadata(&file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(invalid(&file, &e.to_string(), None)),
    };
    let since = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    if !meta.is_file() {
        return Some(invalid(&file, "not a regular file", since));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Some(invalid(
            &file,
            &format!("larger than {MAX_FILE_BYTES} bytes"),
            since,
        ));
    }
    match std::fs::read(&file) {
        Ok(bytes) => Some(parse(&bytes).unwrap_or_else(|e| invalid(&file, &e, since))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(invalid(&file, &e.to_string(), since)),
    }
}

/// The pause an unusable pause file stands for.
fn invalid(file: &Path, why: &str, since_ms: Option<i64>) -> Pause {
    let said = format!(
        "paused by the pause file {}, which is unusable ({why}); `maestro-site resume` removes it",
        file.display()
    );
    Pause {
        reason: text::one_line(&said, MAX_REASON_BYTES),
        since_ms: since_ms.unwrap_or_else(maestro_common::time::now_millis),
    }
}

/// Pauses the agent with data dir `data_dir` for `reason` (validated) from `now_ms`; a pause
/// already in force keeps its start and takes the new reason. Returns the pause written.
pub fn pause(data_dir: &Path, reason: &str, now_ms: i64) -> Result<Pause, Error> {
    validate_reason(reason)?;
    require_dir(data_dir)?;
    let file = path(data_dir);
    let since_ms = std::fs::read(&file)
        .ok()
        .and_then(|b| parse(&b).ok())
        .map_or(now_ms, |p| p.since_ms);
    let pause = Pause {
        reason: reason.to_string(),
        since_ms,
    };
    let bytes = serde_json::to_vec_pretty(&pause)
        .map_err(|e| Error::Runtime(format!("encoding the pause: {e}")))?;
    maestro_common::durable::write_file(&file, &bytes, 0o644, true)
        .map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
    Ok(pause)
}

/// Lifts the pause of the agent with data dir `data_dir`; returns whether there was one.
pub fn resume(data_dir: &Path) -> Result<bool, Error> {
    require_dir(data_dir)?;
    let file = path(data_dir);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("removing {}", file.display()), e)),
    }
}

/// The data dir must exist: a pause written anywhere else would pause nothing.
fn require_dir(data_dir: &Path) -> Result<(), Error> {
    if data_dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Invalid(FieldError::new(
            "data_dir",
            format!(
                "{} is not a directory (give the agent's own data_dir)",
                data_dir.display()
            ),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_short_line() {
        assert_eq!(validate_reason("cutover of line 3 until 18:00"), Ok(()));
        assert_eq!(validate_reason(&"x".repeat(MAX_REASON_BYTES)), Ok(()));
        for bad in [
            String::new(),
            "   ".to_string(),
            "two\nlines".to_string(),
            "tab\there".to_string(),
            "bell\u{7}".to_string(),
            "right\u{202E}to left".to_string(),
            "x".repeat(MAX_REASON_BYTES + 1),
        ] {
            let e = validate_reason(&bad).unwrap_err();
            assert_eq!(e.field, "reason", "{bad:?}");
        }
    }

    #[test]
    fn a_pause_file_is_read_strictly() {
        assert_eq!(
            parse(br#"{"reason": "line 3 cutover", "since_ms": 1700000000000}"#),
            Ok(Pause {
                reason: "line 3 cutover".into(),
                since_ms: 1_700_000_000_000
            })
        );
        for (bad, says) in [
            (&br#"{"reason": "", "since_ms": 1}"#[..], "reason"),
            (br#"{"reason": "a\nb", "since_ms": 1}"#, "reason"),
            (br#"{"reason": "x", "since_ms": -1}"#, "since_ms"),
            (br#"{"reason": "x"}"#, "since_ms"),
            (br#"{"reason": "x", "since_ms": 1, "until": 2}"#, "until"),
            (b"not json", "expected"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{}: {e}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn pause_and_resume_write_and_remove_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let first = pause(dir.path(), "line 3 cutover", 1_000).unwrap();
        assert_eq!(read(dir.path()), Some(first.clone()));
        // Paused again: the new reason, the first start.
        let again = pause(dir.path(), "until the audit ends", 2_000).unwrap();
        assert_eq!(
            again,
            Pause {
                reason: "until the audit ends".into(),
                since_ms: 1_000
            }
        );
        assert_eq!(read(dir.path()), Some(again));
        assert!(pause(dir.path(), "a\nb", 3_000).is_err());
        assert!(resume(dir.path()).unwrap());
        assert_eq!(read(dir.path()), None);
        assert!(!resume(dir.path()).unwrap());
        let missing = dir.path().join("nowhere");
        let e = pause(&missing, "x", 1).unwrap_err().to_string();
        assert!(e.contains("data_dir"), "{e}");
        assert!(!missing.exists(), "nothing is created elsewhere");
    }

    #[test]
    fn an_unusable_pause_file_still_pauses_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "{\"reason\": \"a\nb\u{7}\"").unwrap();
        let p = read(dir.path()).expect("still paused");
        assert!(p.reason.contains("unusable"), "{}", p.reason);
        assert_eq!(validate_reason(&p.reason), Ok(()), "{:?}", p.reason);
        assert!(p.since_ms > 0);
        std::fs::write(path(dir.path()), vec![b' '; 5000]).unwrap();
        let p = read(dir.path()).expect("still paused");
        assert!(p.reason.contains("larger than"), "{}", p.reason);
        std::fs::remove_file(path(dir.path())).unwrap();
        std::fs::create_dir(path(dir.path())).unwrap();
        let p = read(dir.path()).expect("still paused");
        assert!(p.reason.contains("not a regular file"), "{}", p.reason);
    }
}
