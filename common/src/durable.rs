//! Durability: flushing sled before acknowledging.
//!
//! sled 0.34's `flush_async` can miss its wake-up under concurrent flushes and hang; the blocking
//! `flush` on Tokio's blocking pool does not, so every crate flushes through here.

/// How long [`open`] waits for a just-closed database in the same directory to release its lock.
pub const OPEN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the sled database at `path`. sled releases its directory lock on its own threads a moment
/// after the last handle is dropped, so a restart in the same process (or right after a killed
/// one) retries while the lock is still held, for at most [`OPEN_LOCK_WAIT`].
pub fn open(path: &std::path::Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + OPEN_LOCK_WAIT;
    loop {
        match sled::open(path) {
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

/// Flushes `tree` (a `sled::Db` derefs to its default tree) to disk; returns the bytes written.
pub async fn flush(tree: &sled::Tree) -> Result<usize, sled::Error> {
    let tree = tree.clone();
    match tokio::task::spawn_blocking(move || tree.flush()).await {
        Ok(result) => result,
        Err(join) => Err(sled::Error::ReportableBug(format!(
            "flush task failed: {join}"
        ))),
    }
}

#[cfg(test)]
mod tests {
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
}
