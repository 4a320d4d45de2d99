//! The sync under a local pause ([`crate::pause`]): the pause file is read at every cycle and
//! its state goes into every heartbeat; while paused, a fetched commit other than the one
//! applied is held — not applied — and said so once per commit. The commit applied is still
//! re-checked: that changes nothing the site runs.

use std::path::PathBuf;

use super::{GitSync, short};
use crate::Error;
use crate::pause::{self, Pause};

impl GitSync {
    /// Makes the sync honour the pause file of the agent with data dir `data_dir`.
    pub fn paused_by(mut self, data_dir: impl Into<PathBuf>) -> Self {
        self.pause.dir = Some(data_dir.into());
        self
    }

    /// The pause in force now, also for the heartbeat; its start, change and end are logged.
    pub(super) fn read_pause(&mut self) -> Option<Pause> {
        let now = self.pause.dir.as_deref().and_then(pause::read);
        if now != self.pause.seen {
            let line = match &now {
                Some(p) => format!(
                    "paused locally since {}: {}; no new commit is applied until the pause is lifted",
                    maestro_common::time::rfc3339(p.since_ms),
                    p.reason
                ),
                None => "local pause lifted; the latest commit is applied".to_string(),
            };
            tracing::info!(site = %self.ctx.site, "{line}");
            self.ctx.outbox.log("info", "", "gitsync", line);
            self.pause.held = None;
            self.ctx.poke_reporter();
        }
        self.ctx.sync.paused(now.clone());
        self.pause.seen = now.clone();
        now
    }

    /// Holds `tip` under `pause`: fetched, not applied.
    pub(super) fn hold(
        &mut self,
        pause: &Pause,
        tip: &str,
        applied: Option<&str>,
    ) -> Result<(), Error> {
        if self.pause.held.as_deref() != Some(tip) {
            let running = applied.map_or("nothing yet".to_string(), |c| {
                format!("the blueprints of commit {}", short(c))
            });
            let line = format!(
                "paused locally ({}): commit {} is fetched and not applied; the site keeps running {running}",
                pause.reason,
                short(tip)
            );
            tracing::info!(site = %self.ctx.site, commit = %tip, "{line}");
            self.ctx.outbox.log("info", "", "gitsync", line);
            self.pause.held = Some(tip.to_string());
        }
        if !self.fetch_failing {
            self.settle()?;
        }
        Ok(())
    }
}

/// What the sync knows of the local pause.
#[derive(Debug, Default)]
pub(super) struct PauseState {
    /// The data dir whose pause file counts; `None`: never paused.
    dir: Option<PathBuf>,
    /// The pause read last.
    seen: Option<Pause>,
    /// The commit held last (logged once).
    held: Option<String>,
}
