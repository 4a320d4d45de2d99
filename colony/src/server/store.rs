//! Sled persistence: one `sled::Db` per server, one tree per entity, JSON values.
//!
//! Keys join their parts with a NUL byte, so prefix scans by colony are exact. The `queue` tree
//! indexes waiting processes by (colony, priority time, id) so assignment scans in order;
//! `running` holds the ids of running processes that have an execution deadline.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Typed access to the server's sled trees.
pub(crate) struct Store {
    db: sled::Db,
    pub(crate) colonies: sled::Tree,
    pub(crate) executors: sled::Tree,
    pub(crate) executor_ids: sled::Tree,
    pub(crate) users: sled::Tree,
    pub(crate) processes: sled::Tree,
    pub(crate) queue: sled::Tree,
    pub(crate) running: sled::Tree,
    pub(crate) logs: sled::Tree,
    pub(crate) definitions: sled::Tree,
    pub(crate) blueprints: sled::Tree,
    pub(crate) history: sled::Tree,
}

/// Joins key parts with NUL separators.
pub(crate) fn key(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// The prefix of every key whose first part is `first`.
pub(crate) fn prefix(first: &str) -> Vec<u8> {
    let mut out = first.as_bytes().to_vec();
    out.push(0);
    out
}

/// An i64 encoded so that byte order equals numeric order.
pub(crate) fn sortable_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub(crate) fn open(dir: &std::path::Path) -> Result<Self, sled::Error> {
        let db = sled::Config::new().path(dir).open()?;
        Ok(Self {
            colonies: db.open_tree("colonies")?,
            executors: db.open_tree("executors")?,
            executor_ids: db.open_tree("executor_ids")?,
            users: db.open_tree("users")?,
            processes: db.open_tree("processes")?,
            queue: db.open_tree("queue")?,
            running: db.open_tree("running")?,
            logs: db.open_tree("logs")?,
            definitions: db.open_tree("definitions")?,
            blueprints: db.open_tree("blueprints")?,
            history: db.open_tree("history")?,
            db,
        })
    }

    /// A monotonically increasing sequence number.
    pub(crate) fn next_seq(&self) -> Result<u64, ApiError> {
        Ok(self.db.generate_id()?)
    }

    /// Makes every write so far durable.
    pub(crate) fn flush(&self) -> Result<(), ApiError> {
        self.db.flush()?;
        Ok(())
    }

    /// Reads one JSON record.
    pub(crate) fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        k: impl AsRef<[u8]>,
    ) -> Result<Option<T>, ApiError> {
        match tree.get(k)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Writes one JSON record.
    pub(crate) fn put<T: Serialize>(
        tree: &sled::Tree,
        k: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<(), ApiError> {
        tree.insert(k.as_ref(), serde_json::to_vec(value)?)?;
        Ok(())
    }

    /// Reads every JSON record whose key starts with `p`, in key order.
    pub(crate) fn scan<T: DeserializeOwned>(
        tree: &sled::Tree,
        p: impl AsRef<[u8]>,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        for item in tree.scan_prefix(p) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }
}
