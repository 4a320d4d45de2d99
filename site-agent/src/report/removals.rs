//! Blueprints the sync removed whose cleanup has not been reported yet (persisted, so a restart
//! between removal and cleanup still reports `removed`).

use serde::{Deserialize, Serialize};

use crate::Error;

/// One removed blueprint waiting for its cleanup process to finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRemoval {
    /// Blueprint name.
    pub name: String,
    /// Blueprint kind.
    pub kind: String,
    /// Intent id (annotation).
    pub intent_id: String,
    /// Order id of the deleting commit, else the blueprint's annotation.
    pub order_id: String,
    /// Intent generation of the deleting commit, else the blueprint's annotation.
    pub generation: u64,
    /// When the agent removed it from the colony (ms since the epoch).
    pub removed_at_ms: i64,
    /// The cleanup process, once found.
    pub cleanup_process: Option<String>,
    /// The blueprints it depended on (`maestro.io/depends-on`): they are removed only after
    /// this cleanup finished.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The persisted set of pending removals.
#[derive(Debug, Clone)]
pub struct Removals {
    tree: sled::Tree,
}

impl Removals {
    /// Opens the tree in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, Error> {
        Ok(Self {
            tree: db.open_tree("removals")?,
        })
    }

    /// Records (or replaces) a pending removal.
    pub fn put(&self, r: &PendingRemoval) -> Result<(), Error> {
        let bytes = serde_json::to_vec(r).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.tree.insert(r.name.as_bytes(), bytes)?;
        Ok(())
    }

    /// Forgets the removal of `name` (reported, or the blueprint was added again).
    pub fn forget(&self, name: &str) -> Result<(), Error> {
        self.tree.remove(name.as_bytes())?;
        Ok(())
    }

    /// All pending removals.
    pub fn list(&self) -> Result<Vec<PendingRemoval>, Error> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (_, v) = item?;
            match serde_json::from_slice(&v) {
                Ok(r) => out.push(r),
                Err(e) => tracing::error!(error = %e, "dropping undecodable pending removal"),
            }
        }
        Ok(out)
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
