//! Which managed file belongs to which blueprint (sled tree `config-files`, keyed by the
//! relative path), so a blueprint never overwrites or removes another's files and orphans are
//! found after a restart.

use serde::{Deserialize, Serialize};

use crate::Error;

/// What the reconciler wrote at one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Relative path.
    pub path: String,
    /// Owning blueprint.
    pub blueprint: String,
    /// SHA-256 of the content written.
    pub sha256: String,
    /// Mode written.
    pub mode: u32,
    /// Blueprint generation it was written for.
    pub generation: i64,
}

/// The manifest. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The database of `tree`, flushed as a whole.
    db: sled::Db,
    tree: sled::Tree,
}

impl Manifest {
    /// Opens the manifest in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, Error> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("config-files")?,
        })
    }

    /// The entry of `path`.
    pub fn get(&self, path: &str) -> Result<Option<Written>, Error> {
        self.tree
            .get(path.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Records `w` and flushes.
    pub async fn put(&self, w: &Written) -> Result<(), Error> {
        let bytes = serde_json::to_vec(w).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.tree.insert(w.path.as_bytes(), bytes)?;
        maestro_common::durable::flush(&self.db).await?;
        Ok(())
    }

    /// Forgets `path` and flushes.
    pub async fn remove(&self, path: &str) -> Result<(), Error> {
        self.tree.remove(path.as_bytes())?;
        maestro_common::durable::flush(&self.db).await?;
        Ok(())
    }

    /// Every entry.
    pub fn all(&self) -> Result<Vec<Written>, Error> {
        self.tree.iter().map(|kv| decode(&kv?.1)).collect()
    }

    /// The entries of `blueprint`, by path.
    pub fn of_blueprint(&self, blueprint: &str) -> Result<Vec<Written>, Error> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|w| w.blueprint == blueprint)
            .collect())
    }
}

fn decode(bytes: &[u8]) -> Result<Written, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("config file manifest: {e}")))
}
