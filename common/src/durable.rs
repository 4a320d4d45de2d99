//! Durability: flushing sled before acknowledging.
//!
//! sled 0.34's `flush_async` can miss its wake-up under concurrent flushes and hang; the blocking
//! `flush` on Tokio's blocking pool does not, so every crate flushes through here.
//!
//! Concurrent flushes of the same database share one (group commit, [`group`]): a request made
//! while no flush of the database runs starts one at once; requests made while one runs wait for
//! the next, which starts when the running one ends and serves all of them. A flush is of the
//! whole database (sled syncs one log for all its trees), so it is asked of the database, never
//! of one tree: a component that writes the same database through several trees (orders and
//! their audit entries, say) shares one flush among them. A request is only ever served
//! by a flush that started after it was made, so whatever it wrote before asking is durable
//! when it returns.
//!
//! A failed write (a full disk, an I/O error) poisons a sled database for the rest of the
//! process: every later write returns the same error, also once the disk has room again. So a
//! failed flush, and every sled error a crate converts into its own error type, is reported on
//! [`storage_failures`] ([`note_failure`]), and the component's launcher ([`crate::launch`])
//! restarts the component, which reopens its store.

mod group;

use std::sync::OnceLock;
use tokio::sync::watch;

/// The process's count of storage failures, and who waits on it.
fn failures() -> &'static watch::Sender<u64> {
    static FAILURES: OnceLock<watch::Sender<u64>> = OnceLock::new();
    FAILURES.get_or_init(|| watch::channel(0).0)
}

/// A receiver that sees every storage failure after it was made: `changed()` resolves at the
/// next one.
pub fn storage_failures() -> watch::Receiver<u64> {
    failures().subscribe()
}

/// Reports `e` if it is a storage failure (sled's I/O error): the store that returned it will
/// not write again in this process.
pub fn note_failure(e: &sled::Error) {
    if let sled::Error::Io(io) = e {
        tracing::error!(error = %io, "storage failed: the store takes no more writes until it is reopened");
        failures().send_modify(|n| *n += 1);
    }
}

/// True when `e` is a full disk (or quota): the caller may say so to whoever asked.
pub fn is_storage_full(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if matches!(
        io.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ))
}

/// How long [`open`] waits for a just-closed database in the same directory to release its lock.
pub const OPEN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the sled database at `path`. sled releases its directory lock on its own threads a moment
/// after the last handle is dropped, so a restart in the same process (or right after a killed
/// one) retries while the lock is still held, for at most [`OPEN_LOCK_WAIT`].
pub fn open(path: &std::path::Path) -> Result<sled::Db, sled::Error> {
    open_config(&sled::Config::new().path(path))
}

/// [`open`] without sled's background flusher (a thread per database that wakes every 500 ms
/// and syncs the files), for a database whose owner flushes every write it relies on: what is
/// written and not flushed reaches the disk only with the next flush.
pub fn open_flushed_by_owner(path: &std::path::Path) -> Result<sled::Db, sled::Error> {
    open_config(&sled::Config::new().path(path).flush_every_ms(None))
}

fn open_config(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + OPEN_LOCK_WAIT;
    loop {
        match config.open() {
            Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// True when opening failed because another handle still holds the database's directory lock.
pub fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

/// Flushes `db` (every tree of it) to disk; returns the bytes written by the flush that served
/// this call (shared with the calls it also served: see the module doc). A failed flush fails
/// every call it served.
pub async fn flush(db: &sled::Db) -> Result<usize, sled::Error> {
    let key = group_key(db);
    let db = db.clone();
    group::shared()
        .flush(key, move || db.flush().inspect_err(note_failure))
        .await
}

/// The name of `db`'s flush group. Every clone of a database shares its default tree, one
/// allocation: its address names the database while the group holds a clone (so the address
/// cannot be reused meanwhile).
fn group_key(db: &sled::Db) -> usize {
    let default: &sled::Tree = db;
    std::ptr::from_ref(&**default).addr()
}

/// How many flushes ran in this process (a flush shared by several callers counts once).
pub fn flushes_done() -> u64 {
    group::shared().done()
}

/// The gRPC status a caller gets for storage error `e` while doing `what` (the error was reported
/// as a storage failure where it was converted, see [`note_failure`]): `RESOURCE_EXHAUSTED` for a full disk, `UNAVAILABLE` for another I/O failure —
/// nothing was stored and a retry will do once the store is back — and `INTERNAL` otherwise.
pub fn status(what: &str, e: &sled::Error) -> tonic::Status {
    match e {
        sled::Error::Io(io) if is_storage_full(e) => tonic::Status::resource_exhausted(format!(
            "{what}: the disk is full ({}); nothing was changed, retry later",
            io.kind()
        )),
        sled::Error::Io(io) => tonic::Status::unavailable(format!(
            "{what}: storage failed ({io}); nothing was changed, retry later"
        )),
        other => tonic::Status::internal(format!("{what}: storage: {other}")),
    }
}

/// Writes `contents` to `path` with permission bits `mode`, atomically: a temporary file created
/// exclusively (never through a link) with that mode in the same directory, written, fsynced, then
/// renamed over `path` (with `replace`) or hard-linked to it (without: an existing `path` is never
/// clobbered and the error is `AlreadyExists`); the directory is fsynced last. A reader sees the
/// old file or the new one, never a part, and so does whoever looks after a crash.
pub fn write_file(
    path: &std::path::Path,
    contents: &[u8],
    mode: u32,
    replace: bool,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have removed bits: the file gets the mode asked for.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            std::fs::hard_link(&tmp, path)?;
            std::fs::remove_file(&tmp)
        }
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(&dir)?.sync_all()
}

/// Copies a database's files as a crash would leave them (what is on disk now): in tests, what
/// a flush made durable. `to` is created if missing.
#[cfg(any(test, feature = "test-support"))]
pub fn copy_as_crashed(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_as_crashed(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::write_file;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn every_clone_and_tree_handle_of_a_database_is_in_one_flush_group_and_another_database_not() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let other = sled::Config::new().temporary(true).open().unwrap();
        // A component holding its own clone (an audit log, a registry) flushes the same group.
        let clone = db.clone();
        assert_eq!(super::group_key(&db), super::group_key(&clone));
        // Opening trees makes no other database.
        let _entries = clone.open_tree("audit").unwrap();
        assert_eq!(super::group_key(&db), super::group_key(&clone.clone()));
        assert_ne!(super::group_key(&db), super::group_key(&other));
    }

    #[tokio::test]
    async fn flushed_data_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("maestro-durable-{}", std::process::id()));
        {
            let db = sled::open(&dir).unwrap();
            db.insert("k", "v").unwrap();
            super::flush(&db).await.unwrap();
        }
        let db = super::open(&dir).unwrap();
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn write_file_sets_the_mode_replaces_only_when_asked_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_file(&path, b"one", 0o600, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = write_file(&path, b"two", 0o600, false).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_file(&path, b"two", 0o640, true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
