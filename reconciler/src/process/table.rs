//! The persistent table of native process instances the reconciler started (sled tree
//! `instances`), so a restarted agent re-adopts them instead of starting duplicates.

use serde::{Deserialize, Serialize};

use crate::Error;

/// One started instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Blueprint name.
    pub blueprint: String,
    /// Instance index (0-based).
    pub index: u32,
    /// Process id (also the process group id).
    pub pid: u32,
    /// Colony generation of the spec it runs (adopted forward when only `replicas` changed).
    pub generation: i64,
    /// [`super::spec::ProcessSpec::template`] of what it runs (empty for instances recorded
    /// before templates were: those are current only at their own generation).
    #[serde(default)]
    pub template: String,
    /// When it was started (ms since the epoch).
    pub started_at_ms: i64,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22), to detect pid reuse.
    pub start_ticks: Option<u64>,
}

impl Instance {
    /// Instance name `<blueprint>-<index>` (the `MAESTRO_INSTANCE` label).
    pub fn name(&self) -> String {
        instance_name(&self.blueprint, self.index)
    }
}

/// Instance name of slot `index` of `blueprint`.
pub fn instance_name(blueprint: &str, index: u32) -> String {
    format!("{blueprint}-{index}")
}

/// The table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct InstanceTable {
    /// The database of `tree`, flushed as a whole.
    db: sled::Db,
    tree: sled::Tree,
}

fn key(blueprint: &str, pid: u32) -> Vec<u8> {
    let mut k = prefix(blueprint);
    k.extend_from_slice(&pid.to_be_bytes());
    k
}

fn prefix(blueprint: &str) -> Vec<u8> {
    let mut k = blueprint.as_bytes().to_vec();
    k.push(0);
    k
}

impl InstanceTable {
    /// Opens the table in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, Error> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("instances")?,
        })
    }

    /// Records an instance durably.
    pub async fn insert(&self, i: &Instance) -> Result<(), Error> {
        let bytes = serde_json::to_vec(i).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.tree.insert(key(&i.blueprint, i.pid), bytes)?;
        maestro_common::durable::flush(&self.db).await?;
        Ok(())
    }

    /// Forgets an instance; returns whether it was recorded.
    pub fn remove(&self, blueprint: &str, pid: u32) -> Result<bool, Error> {
        Ok(self.tree.remove(key(blueprint, pid))?.is_some())
    }

    /// The instance recorded for `blueprint` with `pid`, if any.
    pub fn get(&self, blueprint: &str, pid: u32) -> Result<Option<Instance>, Error> {
        self.tree
            .get(key(blueprint, pid))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Instances of one blueprint.
    pub fn of_blueprint(&self, blueprint: &str) -> Result<Vec<Instance>, Error> {
        decode_all(self.tree.scan_prefix(prefix(blueprint)))
    }

    /// Every instance.
    pub fn all(&self) -> Result<Vec<Instance>, Error> {
        decode_all(self.tree.iter())
    }
}

fn decode_all(
    iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
) -> Result<Vec<Instance>, Error> {
    iter.map(|item| decode(&item?.1)).collect()
}

fn decode(bytes: &[u8]) -> Result<Instance, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("instance table: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prefixes_do_not_mix_blueprints() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let t = InstanceTable::open(&db).unwrap();
        let mk = |bp: &str, pid| Instance {
            blueprint: bp.into(),
            index: 0,
            pid,
            generation: 1,
            template: String::new(),
            started_at_ms: 0,
            start_ticks: None,
        };
        t.insert(&mk("web", 1)).await.unwrap();
        t.insert(&mk("web-2", 2)).await.unwrap();
        assert_eq!(t.of_blueprint("web").unwrap().len(), 1);
        assert_eq!(t.all().unwrap().len(), 2);
        assert_eq!(t.get("web-2", 2).unwrap(), Some(mk("web-2", 2)));
        assert_eq!(t.get("web", 2).unwrap(), None);
        assert!(t.remove("web", 1).unwrap());
        assert_eq!(t.get("web", 1).unwrap(), None);
    }
}
