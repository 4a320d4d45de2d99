//! The site's ColonyOS identities, persisted in `<data_dir>/keys.json` (mode 0600) so a restart
//! reuses them.
//!
//! With the embedded colony every key is generated on first start: the server owner (the embedded
//! server's id), the colony owner, the reconciler executor and the agent's user. Against an
//! external colony the agent has no server-owner rights: the operator provisions `keys.json` with
//! the `colony_owner` key of an existing colony (used to register the executor, the user and
//! missing blueprint definitions); without it the operator must register the `reconciler` and
//! `agent` ids themselves (they are generated and logged on first start).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    reconciler: Option<String>,
    agent: Option<String>,
    docker_reconciler: Option<String>,
}

/// The keys the site agent signs with.
#[derive(Debug, Clone)]
pub struct SiteKeys {
    /// Owner of the embedded server; `None` against an external colony.
    pub server_owner: Option<PrivateKey>,
    /// Owner of the site colony; may be `None` against an external colony.
    pub colony_owner: Option<PrivateKey>,
    /// The process reconciler executor.
    pub reconciler: PrivateKey,
    /// The agent's user (GitOps sync and status reads).
    pub agent: PrivateKey,
    /// The Docker reconciler executor; generated on the first start with Docker enabled.
    pub docker_reconciler: Option<PrivateKey>,
}

impl SiteKeys {
    /// Loads `<dir>/keys.json`, generating the missing keys (all four when `embedded`, else only
    /// the reconciler and agent keys), and writes the file back when something was generated.
    pub fn load_or_create(dir: &Path, embedded: bool) -> Result<Self, Error> {
        Self::load_or_create_with(dir, embedded, false)
    }

    /// Like [`SiteKeys::load_or_create`]; with `docker` the `docker_reconciler` key is generated
    /// too when missing (an existing one is always loaded).
    pub fn load_or_create_with(dir: &Path, embedded: bool, docker: bool) -> Result<Self, Error> {
        let path = dir.join(KEYS_FILE);
        let mut file: KeyFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let mut changed = false;
        let mut take =
            |slot: &mut Option<String>, generate: bool| -> Result<Option<PrivateKey>, Error> {
                match slot {
                    Some(hex) => PrivateKey::from_hex(hex)
                        .map(Some)
                        .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display()))),
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
        let reconciler = take(&mut file.reconciler, true)?;
        let agent = take(&mut file.agent, true)?;
        let docker_reconciler = take(&mut file.docker_reconciler, docker)?;
        let (Some(reconciler), Some(agent)) = (reconciler, agent) else {
            return Err(Error::Corrupt("keys were not generated".into()));
        };
        if changed {
            write_private(&path, &file)?;
        }
        Ok(Self {
            server_owner: if embedded { server_owner } else { None },
            colony_owner,
            reconciler,
            agent,
            docker_reconciler,
        })
    }
}

fn write_private(path: &Path, file: &KeyFile) -> Result<(), Error> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| Error::Corrupt(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reused_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = SiteKeys::load_or_create(dir.path(), true).unwrap();
        let b = SiteKeys::load_or_create(dir.path(), true).unwrap();
        assert_eq!(a.agent.id(), b.agent.id());
        assert_eq!(a.reconciler.id(), b.reconciler.id());
        assert_eq!(a.colony_owner.unwrap().id(), b.colony_owner.unwrap().id());
        assert_eq!(a.server_owner.unwrap().id(), b.server_owner.unwrap().id());
        assert_ne!(b.agent.id(), b.reconciler.id());
    }

    #[test]
    fn docker_key_is_generated_once_when_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let a = SiteKeys::load_or_create(dir.path(), true).unwrap();
        assert!(a.docker_reconciler.is_none());
        let b = SiteKeys::load_or_create_with(dir.path(), true, true).unwrap();
        let docker = b.docker_reconciler.expect("generated");
        assert_eq!(a.agent.id(), b.agent.id());
        assert_ne!(docker.id(), b.reconciler.id());
        let c = SiteKeys::load_or_create(dir.path(), true).unwrap();
        assert_eq!(c.docker_reconciler.map(|k| k.id()), Some(docker.id()));
    }

    #[test]
    fn external_colony_gets_no_owner_keys() {
        let dir = tempfile::tempdir().unwrap();
        let k = SiteKeys::load_or_create(dir.path(), false).unwrap();
        assert!(k.server_owner.is_none() && k.colony_owner.is_none());
    }
}
