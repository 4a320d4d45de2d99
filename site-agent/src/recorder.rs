//! The site's [`Recorder`]: reconcilers' log lines go to the outbox (and on to the log server),
//! change notices wake the status reporter.

use std::sync::Arc;

use reconciler::{Level, Recorder};
use tokio::sync::Notify;

use crate::outbox::Outbox;

/// Log lines into the outbox; changes poke the reporter.
#[derive(Debug, Clone)]
pub struct SiteRecorder {
    outbox: Outbox,
    poke: Arc<Notify>,
}

impl SiteRecorder {
    /// A recorder writing to `outbox` and waking `poke`.
    pub fn new(outbox: Outbox, poke: Arc<Notify>) -> Self {
        Self { outbox, poke }
    }
}

impl Recorder for SiteRecorder {
    fn log(&self, level: Level, blueprint: &str, source: &str, message: &str) {
        self.outbox.log(level.as_str(), blueprint, source, message);
    }

    fn changed(&self) {
        self.poke.notify_one();
    }
}
