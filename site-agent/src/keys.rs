//! The site's ColonyOS identities, persisted in `<data_dir>/keys.json` (mode 0600) so a restart
//! reuses them.
//!
//! With the embedded colony every key is generated on first start: the server owner (the embedded
//! server's id), the colony owner, the agent's user and one executor key per reconciler the site
//! runs (by executor type). Against an
//! external colony the agent has no server-owner rights: the operator provisions `keys.json` with
//! the `colony_owner` key of an existing colony (used to register the executor, the user and
//! missing blueprint definitions); without it the operator must register the executors and the
//! `agent` ids themselves (they are generated and logged on first start).

use std::collections::BTreeMap;
use std::path::Path;

use colony::crypto::PrivateKey;
use serde::{Deserialize, Serialize};

use crate::Error;

/// File name of the key store inside the data dir.
pub const KEYS_FILE: &str = "keys.json";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct KeyFile {
    server_owner: Option<String>,
    colony_owner: Option<String>,
    agent: Option<String>,
    /// Executor type -> key of the site's executor of that type.
    executors: BTreeMap<String, String>,
    /// Key files written before executors were keyed by type (read, never written).
    #[serde(skip_serializing)]
    reconciler: Option<String>,
    #[serde(skip_serializing)]
    docker_reconciler: Option<String>,
}

impl KeyFile {
    /// Moves keys of the earlier layout into `executors`; true when something moved.
    fn migrate(&mut self) -> bool {
        let mut moved = false;
        for (old, executor_type) in [
            (self.reconciler.take(), "process-reconciler"),
            (self.docker_reconciler.take(), "docker-reconciler"),
        ] {
            if let Some(hex) = old {
                self.executors
                    .entry(executor_type.to_string())
                    .or_insert(hex);
                moved = true;
            }
        }
        moved
    }
}

/// The keys the site agent signs with.
#[derive(Debug, Clone)]
pub struct SiteKeys {
    /// Owner of the embedded server; `None` against an external colony.
    pub server_owner: Option<PrivateKey>,
    /// Owner of the site colony; may be `None` against an external colony.
    pub colony_owner: Option<PrivateKey>,
    /// The agent's user (GitOps sync and status reads).
    pub agent: PrivateKey,
    /// The key of each executor the site runs, by executor type.
    pub executors: BTreeMap<String, PrivateKey>,
}

impl SiteKeys {
    /// Loads `<dir>/keys.json`, generating the missing keys (the owners when `embedded`, the
    /// agent's, and one per type in `executor_types`; keys of other executors are kept), and
    /// writes the file back when something was generated or migrated.
    pub fn load_or_create(
        dir: &Path,
        embedded: bool,
        executor_types: &[&str],
    ) -> Result<Self, Error> {
        let path = dir.join(KEYS_FILE);
        let mut file: KeyFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let mut changed = file.migrate();
        let corrupt = |e: colony::CryptoError| Error::Corrupt(format!("{}: {e}", path.display()));
        let mut take =
            |slot: &mut Option<String>, generate: bool| -> Result<Option<PrivateKey>, Error> {
                match slot {
                    Some(hex) => PrivateKey::from_hex(hex).map(Some).map_err(corrupt),
                    None if generate => {
                        let key = PrivateKey::generate();
                        *slot = Some(key.to_hex());
                        changed = true;
                        Ok(Some(key))
                    }
                    None => Ok(None),
                }
            };
        let server_owner = take(&mut file.server_owner, embedded)?;
        let colony_owner = take(&mut file.colony_owner, embedded)?;
        let agent = take(&mut file.agent, true)?
            .ok_or_else(|| Error::Corrupt("the agent key was not generated".into()))?;
        let mut executors = BTreeMap::new();
        for t in executor_types {
            let mut slot = file.executors.get(*t).cloned();
            if let Some(key) = take(&mut slot, true)? {
                executors.insert((*t).to_string(), key);
            }
            if let Some(hex) = slot {
                file.executors.insert((*t).to_string(), hex);
            }
        }
        if changed {
            write_private(&path, &file)?;
        }
        Ok(Self {
            server_owner: if embedded { server_owner } else { None },
            colony_owner,
            agent,
            executors,
        })
    }

    /// The key of the executor of `executor_type`.
    pub fn executor(&self, executor_type: &str) -> Option<&PrivateKey> {
        self.executors.get(executor_type)
    }
}

fn write_private(path: &Path, file: &KeyFile) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| Error::Corrupt(e.to_string()))?;
    maestro_common::durable::write_file(path, &bytes, 0o600, true)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: [&str; 2] = ["process-reconciler", "config-file-reconciler"];

    #[test]
    fn keys_are_reused_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = SiteKeys::load_or_create(dir.path(), true, &TYPES).unwrap();
        let b = SiteKeys::load_or_create(dir.path(), true, &TYPES).unwrap();
        assert_eq!(a.agent.id(), b.agent.id());
        for t in TYPES {
            assert_eq!(a.executor(t).unwrap().id(), b.executor(t).unwrap().id());
            assert_ne!(b.agent.id(), b.executor(t).unwrap().id());
        }
        assert_ne!(
            b.executor(TYPES[0]).unwrap().id(),
            b.executor(TYPES[1]).unwrap().id()
        );
        assert_eq!(a.colony_owner.unwrap().id(), b.colony_owner.unwrap().id());
        assert_eq!(a.server_owner.unwrap().id(), b.server_owner.unwrap().id());
    }

    #[test]
    fn an_executor_key_is_generated_once_when_its_type_runs_and_kept_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = SiteKeys::load_or_create(dir.path(), true, &["process-reconciler"]).unwrap();
        assert!(a.executor("docker-reconciler").is_none());
        let b = SiteKeys::load_or_create(
            dir.path(),
            true,
            &["process-reconciler", "docker-reconciler"],
        )
        .unwrap();
        let docker = b.executor("docker-reconciler").expect("generated").id();
        assert_eq!(a.agent.id(), b.agent.id());
        SiteKeys::load_or_create(dir.path(), true, &["process-reconciler"]).unwrap();
        let c = SiteKeys::load_or_create(dir.path(), true, &["docker-reconciler"]).unwrap();
        assert_eq!(c.executor("docker-reconciler").unwrap().id(), docker);
    }

    #[test]
    fn keys_of_the_earlier_layout_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let (r, d, ag) = (
            PrivateKey::generate(),
            PrivateKey::generate(),
            PrivateKey::generate(),
        );
        let old = serde_json::json!({"reconciler": r.to_hex(), "docker_reconciler": d.to_hex(), "agent": ag.to_hex()});
        std::fs::write(dir.path().join(KEYS_FILE), old.to_string()).unwrap();
        let k = SiteKeys::load_or_create(
            dir.path(),
            false,
            &["process-reconciler", "docker-reconciler"],
        )
        .unwrap();
        assert_eq!(k.executor("process-reconciler").unwrap().id(), r.id());
        assert_eq!(k.executor("docker-reconciler").unwrap().id(), d.id());
        assert_eq!(k.agent.id(), ag.id());
        let written = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(
            !written.contains("docker_reconciler") && written.contains("executors"),
            "{written}"
        );
    }

    #[test]
    fn external_colony_gets_no_owner_keys() {
        let dir = tempfile::tempdir().unwrap();
        let k = SiteKeys::load_or_create(dir.path(), false, &TYPES).unwrap();
        assert!(k.server_owner.is_none() && k.colony_owner.is_none());
    }
}
