//! Durability: flushing sled before acknowledging.
//!
//! sled 0.34's `flush_async` can miss its wake-up under concurrent flushes and hang; the blocking
//! `flush` on Tokio's blocking pool does not, so every crate flushes through here.

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
        let db = sled::open(&dir).unwrap();
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
