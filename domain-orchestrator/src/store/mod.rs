//! Durable state of the domain orchestrator behind small traits: intents and their rendered
//! blueprints ([`IntentStore`]), and what the sites reported ([`ObservedStore`]).

mod sled_store;

pub use sled_store::SledStore;

use crate::intent::{Intent, IntentDeletion};
use crate::status::{ObservedBlueprint, SiteSync};
use crate::translator::RenderedBlueprint;
use futures::future::BoxFuture;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("sled: {0}")]
    Sled(sled::Error),
    /// A stored value did not decode.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The key of the record.
        key: String,
        /// Why it did not decode.
        reason: String,
    },
}

/// A sled error, reported as a storage failure when it is one (the store then needs reopening,
/// see `maestro_common::durable`).
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        maestro_common::durable::note_failure(&e);
        Self::Sled(e)
    }
}

/// What an apply or delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The generation stored after the call.
    pub stored_generation: u64,
    /// The rollout step stored after the call (0 without a rollout).
    pub stored_step: u64,
    /// False when the call was a no-op (same or lower (generation, rollout step)).
    pub changed: bool,
}

/// The blueprints last rendered for an intent, and the commit that published them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenderedIntent {
    /// Intent generation they were rendered at.
    pub generation: u64,
    /// Rollout step they were rendered at (0 without a rollout).
    #[serde(default)]
    pub step: u64,
    /// The intent is deleted: the blueprints are kept only to know what must be removed.
    pub deleted: bool,
    /// The blueprints, for every target site.
    pub blueprints: Vec<RenderedBlueprint>,
    /// Commit on the branch holding this state, once pushed.
    pub commit: Option<String>,
}

impl RenderedIntent {
    /// Whether `other` describes the same desired state (ignoring the commit).
    pub fn same_state(&self, other: &RenderedIntent) -> bool {
        self.generation == other.generation
            && self.step == other.step
            && self.deleted == other.deleted
            && self.blueprints == other.blueprints
    }
}

/// Intents and their rendered blueprints.
pub trait IntentStore: Send + Sync {
    /// Stores `intent` when its (generation, rollout step) is higher than the stored one.
    fn apply(&self, intent: &Intent) -> Result<ApplyOutcome, StoreError>;
    /// Marks the intent deleted at a higher generation (its rollout ends); `None` when the
    /// intent is unknown.
    fn delete(&self, deletion: &IntentDeletion) -> Result<Option<ApplyOutcome>, StoreError>;
    /// The stored intent.
    fn get(&self, id: &str) -> Result<Option<Intent>, StoreError>;
    /// Up to `limit` intents with ids greater than `after`, ordered by id.
    fn list(&self, after: &str, limit: usize) -> Result<Vec<Intent>, StoreError>;
    /// Makes every write so far durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The blueprints last rendered for an intent.
    fn rendered(&self, id: &str) -> Result<Option<RenderedIntent>, StoreError>;
    /// Records the blueprints rendered for an intent.
    fn put_rendered(&self, id: &str, rendered: &RenderedIntent) -> Result<(), StoreError>;
    /// Every rendered intent, ordered by id.
    fn all_rendered(&self) -> Result<Vec<(String, RenderedIntent)>, StoreError>;
    /// Records that this domain published `commit`; returns its place in the order of
    /// publication (numbers only grow; the first record of a commit wins).
    fn record_commit(&self, commit: &str) -> Result<u64, StoreError>;
    /// The place of `commit` in the order of publication, when this domain published it.
    fn commit_number(&self, commit: &str) -> Result<Option<u64>, StoreError>;
}

/// What the sites reported through the log server.
pub trait ObservedStore: Send + Sync {
    /// The cursor (last processed log-server sequence).
    fn cursor(&self) -> Result<u64, StoreError>;
    /// Persists the cursor.
    fn set_cursor(&self, sequence: u64) -> Result<(), StoreError>;
    /// Latest status of a blueprint at a site.
    fn observed(
        &self,
        site: &str,
        blueprint: &str,
    ) -> Result<Option<ObservedBlueprint>, StoreError>;
    /// Records the latest status of a blueprint at a site.
    fn put_observed(
        &self,
        site: &str,
        blueprint: &str,
        status: &ObservedBlueprint,
    ) -> Result<(), StoreError>;
    /// When the site was last heard from (millis since the epoch).
    fn last_heard(&self, site: &str) -> Result<Option<i64>, StoreError>;
    /// Records that the site was heard at `millis` (keeps the maximum).
    fn heard(&self, site: &str, millis: i64) -> Result<(), StoreError>;
    /// Where the site's Git sync stood at its latest heartbeat.
    fn site_sync(&self, site: &str) -> Result<Option<SiteSync>, StoreError>;
    /// Records where the site's Git sync stands.
    fn put_site_sync(&self, site: &str, sync: &SiteSync) -> Result<(), StoreError>;
}
