//! The sled implementation of [`IntentStore`] and [`ObservedStore`].

use super::{ApplyOutcome, IntentStore, ObservedStore, RenderedIntent, StoreError};
use crate::intent::{Intent, IntentDeletion};
use crate::status::{ObservedBlueprint, SiteSync};
use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use std::path::Path;
use std::sync::Mutex;

const CURSOR_KEY: &[u8] = b"log_cursor";

/// All durable state of a domain orchestrator in one sled database.
pub struct SledStore {
    db: sled::Db,
    intents: sled::Tree,
    rendered: sled::Tree,
    observed: sled::Tree,
    heard: sled::Tree,
    syncs: sled::Tree,
    commits: sled::Tree,
    meta: sled::Tree,
    /// Serialises read-compare-write of intents.
    write: Mutex<()>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(key: &[u8], raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn observed_key(site: &str, blueprint: &str) -> Vec<u8> {
    format!("{site}\u{0}{blueprint}").into_bytes()
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = maestro_common::durable::open(dir)?;
        Ok(Self {
            intents: db.open_tree("intents")?,
            rendered: db.open_tree("rendered")?,
            observed: db.open_tree("observed")?,
            heard: db.open_tree("heard")?,
            syncs: db.open_tree("site_syncs")?,
            commits: db.open_tree("published_commits")?,
            meta: db.open_tree("meta")?,
            db,
            write: Mutex::new(()),
        })
    }

    /// The database, for the audit log that shares it (and so shares its flushes).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The tree of the manifest version counter (`crate::signing::VersionCounter`).
    pub fn manifest_versions(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("manifest_versions")?)
    }

    fn store_if_newer(
        &self,
        id: &str,
        next: impl FnOnce(Option<Intent>) -> Option<Intent>,
    ) -> Result<Option<ApplyOutcome>, StoreError> {
        let _guard = self
            .write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.get(id)?;
        let current_order = current.as_ref().map(Intent::order);
        let Some(candidate) = next(current) else {
            return Ok(None);
        };
        if let Some((generation, step)) = current_order.filter(|o| *o >= candidate.order()) {
            return Ok(Some(ApplyOutcome {
                stored_generation: generation,
                stored_step: step,
                changed: false,
            }));
        }
        self.intents.insert(id.as_bytes(), encode(&candidate))?;
        Ok(Some(ApplyOutcome {
            stored_generation: candidate.generation,
            stored_step: candidate.step(),
            changed: true,
        }))
    }
}

impl IntentStore for SledStore {
    fn apply(&self, intent: &Intent) -> Result<ApplyOutcome, StoreError> {
        let out = self.store_if_newer(&intent.id, |_| Some(intent.clone()))?;
        Ok(out.unwrap_or(ApplyOutcome {
            stored_generation: intent.generation,
            stored_step: intent.step(),
            changed: false,
        }))
    }

    fn delete(&self, d: &IntentDeletion) -> Result<Option<ApplyOutcome>, StoreError> {
        self.store_if_newer(&d.id, |current| {
            current.map(|mut i| {
                i.generation = d.generation;
                i.deleted = true;
                i.rollout = None;
                i.order_id.clone_from(&d.order_id);
                i.order_item_id.clone_from(&d.order_item_id);
                i
            })
        })
    }

    fn get(&self, id: &str) -> Result<Option<Intent>, StoreError> {
        self.intents
            .get(id.as_bytes())?
            .map(|raw| decode(id.as_bytes(), &raw))
            .transpose()
    }

    fn list(&self, after: &str, limit: usize) -> Result<Vec<Intent>, StoreError> {
        let mut out = Vec::new();
        let range = if after.is_empty() {
            self.intents.range::<&[u8], _>(..)
        } else {
            self.intents.range::<&[u8], _>((
                std::ops::Bound::Excluded(after.as_bytes()),
                std::ops::Bound::Unbounded,
            ))
        };
        for entry in range.take(limit) {
            let (k, v) = entry?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            maestro_common::durable::flush(&self.db).await?;
            Ok(())
        })
    }

    fn rendered(&self, id: &str) -> Result<Option<RenderedIntent>, StoreError> {
        self.rendered
            .get(id.as_bytes())?
            .map(|raw| decode(id.as_bytes(), &raw))
            .transpose()
    }

    fn put_rendered(&self, id: &str, rendered: &RenderedIntent) -> Result<(), StoreError> {
        self.rendered.insert(id.as_bytes(), encode(rendered))?;
        Ok(())
    }

    fn all_rendered(&self) -> Result<Vec<(String, RenderedIntent)>, StoreError> {
        self.rendered
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode(&k, &v)?))
            })
            .collect()
    }

    fn record_commit(&self, commit: &str) -> Result<u64, StoreError> {
        if let Some(n) = self
            .commits
            .get(commit.as_bytes())?
            .as_deref()
            .and_then(number)
        {
            return Ok(n);
        }
        let n = self.db.generate_id()?;
        match self.commits.compare_and_swap(
            commit.as_bytes(),
            None::<&[u8]>,
            Some(&n.to_be_bytes()[..]),
        )? {
            Ok(()) => Ok(n),
            Err(e) => Ok(e.current.as_deref().and_then(number).unwrap_or(n)),
        }
    }

    fn commit_number(&self, commit: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .commits
            .get(commit.as_bytes())?
            .as_deref()
            .and_then(number))
    }
}

fn number(raw: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(raw).ok().map(u64::from_be_bytes)
}

impl ObservedStore for SledStore {
    fn cursor(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(CURSOR_KEY)?
            .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    fn set_cursor(&self, sequence: u64) -> Result<(), StoreError> {
        self.meta.insert(CURSOR_KEY, &sequence.to_be_bytes())?;
        Ok(())
    }

    fn observed(
        &self,
        site: &str,
        blueprint: &str,
    ) -> Result<Option<ObservedBlueprint>, StoreError> {
        let key = observed_key(site, blueprint);
        self.observed
            .get(&key)?
            .map(|raw| decode(&key, &raw))
            .transpose()
    }

    fn put_observed(
        &self,
        site: &str,
        blueprint: &str,
        status: &ObservedBlueprint,
    ) -> Result<(), StoreError> {
        self.observed
            .insert(observed_key(site, blueprint), encode(status))?;
        Ok(())
    }

    fn last_heard(&self, site: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .heard
            .get(site.as_bytes())?
            .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
            .map(i64::from_be_bytes))
    }

    fn site_sync(&self, site: &str) -> Result<Option<SiteSync>, StoreError> {
        self.syncs
            .get(site.as_bytes())?
            .map(|raw| decode(site.as_bytes(), &raw))
            .transpose()
    }

    fn put_site_sync(&self, site: &str, sync: &SiteSync) -> Result<(), StoreError> {
        self.syncs.insert(site.as_bytes(), encode(sync))?;
        Ok(())
    }

    fn heard(&self, site: &str, millis: i64) -> Result<(), StoreError> {
        self.heard.fetch_and_update(site.as_bytes(), |old| {
            let old = old
                .and_then(|raw| <[u8; 8]>::try_from(raw).ok())
                .map(i64::from_be_bytes);
            Some(old.unwrap_or(i64::MIN).max(millis).to_be_bytes().to_vec())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
