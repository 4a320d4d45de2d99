//! Sled persistence: one `sled::Db` per server, one tree per entity, JSON values.
//!
//! Keys are length-prefixed parts (a 4-byte big-endian length, then the bytes), so no name can
//! forge another key or match another colony's prefix, whatever bytes it holds. The `queue` tree
//! indexes waiting processes by (colony, priority time, id) so assignment scans in order;
//! `running` holds the ids of running processes that have an execution deadline. Stores written
//! with the older NUL-joined keys are re-keyed once when opened (`meta/key-format`).

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
    pub(crate) user_ids: sled::Tree,
    pub(crate) processes: sled::Tree,
    pub(crate) queue: sled::Tree,
    pub(crate) running: sled::Tree,
    pub(crate) logs: sled::Tree,
    pub(crate) definitions: sled::Tree,
    pub(crate) blueprints: sled::Tree,
    pub(crate) history: sled::Tree,
}

/// Current key encoding, recorded in the `meta` tree.
const KEY_FORMAT: &[u8] = b"length-prefixed-v2";

fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// Encodes key parts, each length-prefixed.
pub(crate) fn key(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        push_part(&mut out, p.as_bytes());
    }
    out
}

/// The prefix of every key whose first part is exactly `first`.
pub(crate) fn prefix(first: &str) -> Vec<u8> {
    key(&[first])
}

/// Re-encodes a NUL-joined key of the old format: its first `parts` NUL-separated parts become
/// length-prefixed parts; the rest (binary suffix such as a sortable time) is kept as it is.
fn rekey_nul_joined(old: &[u8], parts: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = old;
    for i in 0..parts {
        let last = i + 1 == parts;
        let end = if last && parts > 1 {
            rest.len()
        } else {
            rest.iter().position(|b| *b == 0).unwrap_or(rest.len())
        };
        push_part(&mut out, &rest[..end]);
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

/// An i64 encoded so that byte order equals numeric order.
pub(crate) fn sortable_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Moves every record of `tree` to the key `new_key(old key)`.
fn rekey(tree: &sled::Tree, new_key: impl Fn(&[u8]) -> Vec<u8>) -> Result<(), ApiError> {
    let old: Vec<(sled::IVec, sled::IVec)> = tree.iter().collect::<Result<_, _>>()?;
    for (k, v) in old {
        let fresh = new_key(&k);
        if fresh.as_slice() != k.as_ref() {
            tree.remove(&k)?;
            tree.insert(fresh, v)?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the database in `dir`, without sled's background flush: every
    /// mutating call is flushed before it is answered (`server` module), so the flusher thread
    /// sled starts per database by default (waking every 500 ms, even when nothing changed) only
    /// cost CPU, a thread per embedded colony in a site agent (`docs/performance.md`, idle cost).
    pub(crate) fn open(dir: &std::path::Path) -> Result<Self, sled::Error> {
        let config = sled::Config::new().path(dir).flush_every_ms(None);
        let db = open_when_unlocked(&config, OPEN_LOCK_WAIT)?;
        Ok(Self {
            colonies: db.open_tree("colonies")?,
            executors: db.open_tree("executors")?,
            executor_ids: db.open_tree("executor_ids")?,
            users: db.open_tree("users")?,
            user_ids: db.open_tree("user_ids")?,
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

    /// Re-keys a store written with NUL-joined keys, once; records the key format.
    pub(crate) fn migrate_keys(&self) -> Result<(), ApiError> {
        let meta = self.db.open_tree("meta")?;
        if meta.get("key-format")?.as_deref() == Some(KEY_FORMAT) {
            return Ok(());
        }
        // (tree, NUL-separated parts of its keys; 1 = a first part then a binary suffix)
        let whole_name = |old: &[u8]| key(&[&String::from_utf8_lossy(old)]);
        rekey(&self.colonies, whole_name)?;
        for tree in [
            &self.executors,
            &self.users,
            &self.definitions,
            &self.blueprints,
        ] {
            rekey(tree, |old| rekey_nul_joined(old, 2))?;
        }
        for tree in [&self.logs, &self.queue, &self.history] {
            rekey(tree, |old| rekey_nul_joined(old, 1))?;
        }
        for item in self.executor_ids.iter() {
            let (id, old) = item?;
            self.executor_ids.insert(id, rekey_nul_joined(&old, 2))?;
        }
        for item in self.users.iter() {
            let (_, v) = item?;
            let user: crate::model::User = serde_json::from_slice(&v)?;
            Self::put(
                &self.user_ids,
                key(&[&user.colony_name, &user.user_id]),
                &user,
            )?;
        }
        meta.insert("key-format", KEY_FORMAT)?;
        self.flush()
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

/// How long [`Store::open`] waits for a database just closed in the same directory to release
/// its lock.
const OPEN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens `config`'s database. sled releases the directory lock on its own threads a moment after
/// the last handle is dropped, so an open right after a close in the same process (a site agent
/// started again in place, a test) retries while the lock is held, for at most `wait`. The same
/// rule as `maestro_common::durable::open` for the components' stores; this crate, the ColonyOS
/// protocol on its own, does not depend on `maestro-common`.
fn open_when_unlocked(
    config: &sled::Config,
    wait: std::time::Duration,
) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if (e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock"))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_waits_for_the_lock_until_its_bound_then_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let held = Store::open(dir.path()).unwrap();
        let config = sled::Config::new().path(dir.path()).flush_every_ms(None);
        let wait = std::time::Duration::from_millis(200);
        let start = std::time::Instant::now();
        let refused = open_when_unlocked(&config, wait).unwrap_err();
        assert!(start.elapsed() >= wait, "retried until the bound");
        assert!(refused.to_string().contains("lock"), "{refused}");
        // Closed: the same directory opens again, with what was written.
        held.colonies.insert(b"k", b"v".as_slice()).unwrap();
        held.colonies.flush().unwrap();
        drop(held);
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(
            again.colonies.get(b"k").unwrap().as_deref(),
            Some(b"v".as_slice())
        );
    }

    #[test]
    fn no_name_forges_another_key_or_prefix() {
        assert_ne!(key(&["a\0b", "c"]), key(&["a", "b\0c"]));
        assert!(!key(&["a\0b", "c"]).starts_with(&prefix("a")));
        assert!(key(&["a", "x"]).starts_with(&prefix("a")));
        assert!(!key(&["ab", "x"]).starts_with(&prefix("a")));
    }

    #[test]
    fn a_store_with_nul_joined_keys_is_rekeyed_once_on_open() {
        use crate::model::{Colony, Executor, User};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let colony = Colony {
            colony_id: "owner".into(),
            name: "c".into(),
        };
        let executor = Executor::new("eid", "t", "e", "c");
        let user = User {
            colony_name: "c".into(),
            user_id: "uid".into(),
            name: "u".into(),
            ..User::default()
        };
        Store::put(&store.colonies, b"c", &colony).unwrap();
        Store::put(&store.executors, b"c\0e", &executor).unwrap();
        store.executor_ids.insert(b"eid", b"c\0e").unwrap();
        Store::put(&store.users, b"c\0u", &user).unwrap();
        store.migrate_keys().unwrap();
        store.migrate_keys().unwrap();

        let got: Option<Colony> = Store::get(&store.colonies, key(&["c"])).unwrap();
        assert_eq!(got, Some(colony));
        let k = store.executor_ids.get(b"eid").unwrap().unwrap();
        assert_eq!(k.as_ref(), key(&["c", "e"]).as_slice());
        let got: Option<Executor> = Store::get(&store.executors, k).unwrap();
        assert_eq!(got.map(|e| e.executor_name), Some("e".to_owned()));
        let by_id: Option<User> = Store::get(&store.user_ids, key(&["c", "uid"])).unwrap();
        assert_eq!(by_id, Some(user));
        let listed: Vec<User> = Store::scan(&store.users, prefix("c")).unwrap();
        assert_eq!(listed.len(), 1);
    }

    #[test]
    fn old_nul_joined_keys_are_reencoded() {
        assert_eq!(
            rekey_nul_joined(b"colony\0exec", 2),
            key(&["colony", "exec"])
        );
        let mut old = b"pid".to_vec();
        old.push(0);
        old.extend_from_slice(&[1, 2, 0, 3]);
        let mut new = prefix("pid");
        new.extend_from_slice(&[1, 2, 0, 3]);
        assert_eq!(rekey_nul_joined(&old, 1), new);
    }
}
