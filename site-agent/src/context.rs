//! What every loop of the agent shares: the colony client and keys, names, the outbox and the
//! local database.

use std::sync::Arc;

use colony::ColonyClient;
use tokio::sync::Notify;

use crate::gitsync::SharedSyncState;
use crate::keys::SiteKeys;
use crate::outbox::Outbox;

/// Shared, cheap-to-clone context of one site agent.
#[derive(Clone, Debug)]
pub struct SiteContext {
    /// Client of the site colony.
    pub client: ColonyClient,
    /// The site's keys.
    pub keys: SiteKeys,
    /// Domain name.
    pub domain: String,
    /// Site name (also the location of blueprints and executors).
    pub site: String,
    /// Colony name (= site name).
    pub colony: String,
    /// Records for the log server.
    pub outbox: Outbox,
    /// The agent's sled database.
    pub db: sled::Db,
    /// Wakes the status reporter (after a sync or a reconcile changed something).
    pub report_poke: Arc<Notify>,
    /// Where the Git sync stands (sent in heartbeats).
    pub sync: SharedSyncState,
}

impl SiteContext {
    /// Asks the status reporter to look at the colony now.
    pub fn poke_reporter(&self) {
        self.report_poke.notify_one();
    }
}
