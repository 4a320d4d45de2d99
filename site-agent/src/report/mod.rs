//! Status and heartbeat reporting: watches the colony's managed blueprints and appends `status`
//! records when a blueprint's view changes (and for every blueprint once per status refresh
//! interval, see [`cadence`]), a `removed` record once a removed blueprint's cleanup process
//! finished, and `heartbeat` records.

pub mod assess;
pub mod cadence;
pub mod refusal;
pub mod removals;

use std::collections::HashMap;
use std::time::Duration;

use colony::model::{Blueprint, Process, ProcessState};
use maestro_proto::logs::v1::{BlueprintStatus, Record, SiteHeartbeat, record};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::context::SiteContext;
use crate::gitsync::SyncState;
use crate::gitsync::files::{self, INTENT_ID, ORDER_ID};
pub use cadence::ReportTiming;
use cadence::{Cadence, Due, Rounds, Seen};
use removals::{PendingRemoval, Removals};

/// Longest time between two looks at the colony while nothing pokes the reporter and everything
/// is converged. Every change the site makes pokes it (the Git sync, and each reconciler's status
/// write through the [`crate::recorder::SiteRecorder`]), so the reporter looks once per poke, not
/// for a while after it, and a heartbeat in between goes without a look (a signed colony call);
/// this only bounds how late a change made behind the site's back (on an external colony) is
/// reported.
const COLD_LOOK_INTERVAL: Duration = Duration::from_secs(60);
/// After this long without a cleanup process in sight, the removal is reported anyway.
const CLEANUP_LOOKUP_LIMIT: Duration = Duration::from_secs(120);
/// Tolerated clock skew between the agent and the colony when matching cleanup processes.
const SKEW_MS: i64 = 5_000;

/// Watches the colony and reports status. Owned by its task.
#[derive(Debug)]
pub struct StatusReporter {
    ctx: SiteContext,
    removals: Removals,
    timing: ReportTiming,
    last: HashMap<String, String>,
}

impl StatusReporter {
    /// A reporter sending a heartbeat every `timing.heartbeat` and every blueprint's status
    /// again every `timing.refresh` (a `Duration` is the heartbeat, with the default refresh).
    pub fn new(ctx: SiteContext, timing: impl Into<ReportTiming>) -> Result<Self, Error> {
        Ok(Self {
            removals: Removals::open(&ctx.db)?,
            ctx,
            timing: timing.into(),
            last: HashMap::new(),
        })
    }

    /// Runs until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut cadence = Cadence::new(self.timing);
        // A heartbeat between looks at the colony goes without one.
        let mut rounds = Rounds::new(COLD_LOOK_INTERVAL, Instant::now());
        loop {
            let now = Instant::now();
            let due = cadence.take(now);
            let next_full = cadence.next_heartbeat();
            let round = if rounds.look(now, due) {
                self.tick(due).await.map(Some)
            } else {
                self.heartbeat_only(due).map(|()| None)
            };
            let seen = round.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "status report round failed");
                if due.refresh {
                    cadence.refresh_at_next_heartbeat();
                }
                // Tried again as a busy look, backing off while it keeps failing.
                Some(Seen {
                    busy: true,
                    news: false,
                })
            });
            rounds.ran(Instant::now(), seen);
            let wake = rounds.next(next_full);
            let poke = self.ctx.report_poke.notified();
            let poked = tokio::select! {
                () = shutdown.cancelled() => return,
                () = poke => true,
                // What the heartbeat says changed: it goes out now, not at its period.
                () = self.ctx.sync.news() => {
                    cadence.heartbeat_at(Instant::now());
                    false
                }
                () = tokio::time::sleep_until(wake) => false,
            };
            rounds.woken(poked);
        }
    }

    /// A round without a look at the colony: the heartbeat, when due, with the number of managed
    /// blueprints seen at the last look.
    fn heartbeat_only(&self, due: Due) -> Result<(), Error> {
        if due.heartbeat {
            let count = u32::try_from(self.last.len()).unwrap_or(u32::MAX);
            self.append_heartbeat(count)?;
        }
        Ok(())
    }

    fn append_heartbeat(&self, blueprints: u32) -> Result<(), Error> {
        self.ctx.outbox.append(Record {
            stream: "heartbeat".to_string(),
            body: Some(record::Body::Heartbeat(heartbeat(
                blueprints,
                &self.ctx.sync.get(),
            ))),
            ..Record::default()
        })?;
        Ok(())
    }

    /// One round: a status for each blueprint whose view changed (for every blueprint with
    /// `due.refresh`) and a heartbeat with `due.heartbeat`. Returns whether something is still
    /// expected to change (unconverged blueprints or pending removals) and whether something
    /// changed since the last round.
    pub async fn tick(&mut self, due: Due) -> Result<Seen, Error> {
        let ctx = self.ctx.clone();
        let all = ctx
            .client
            .get_blueprints(&ctx.keys.agent, &ctx.colony, None, None)
            .await?;
        let managed: Vec<Blueprint> = all.into_iter().filter(files::is_managed).collect();
        let mut seen = Seen::default();
        for bp in &managed {
            let view = assess::view_key(bp);
            let changed = self.last.get(&bp.metadata.name) != Some(&view);
            let a = assess::assess(bp);
            seen.busy |= !a.converged;
            seen.news |= changed;
            if changed || due.refresh {
                ctx.outbox.append(status_record(bp, &a))?;
                self.last.insert(bp.metadata.name.clone(), view);
            }
        }
        let known = self.last.len();
        self.last
            .retain(|name, _| managed.iter().any(|b| &b.metadata.name == name));
        seen.news |= self.last.len() != known;
        // (A blueprint added again is dropped from the removals by the sync, which alone knows
        // the order of the two; `managed` may be older than a removal recorded meanwhile.)
        for removal in self.removals.list()? {
            let reported = self.check_removal(removal).await?;
            seen.busy |= !reported;
            seen.news |= reported;
        }
        if due.heartbeat {
            self.append_heartbeat(u32::try_from(managed.len()).unwrap_or(u32::MAX))?;
        }
        Ok(seen)
    }

    /// Follows the cleanup of one removed blueprint; true once it was reported.
    async fn check_removal(&self, mut removal: PendingRemoval) -> Result<bool, Error> {
        let ctx = &self.ctx;
        if removal.cleanup_process.is_none() {
            removal.cleanup_process = self.find_cleanup(&removal).await?.map(|p| p.process_id);
            if removal.cleanup_process.is_some() {
                self.removals.put(&removal)?;
            }
        }
        let outcome = match &removal.cleanup_process {
            Some(id) => match ctx.client.get_process(&ctx.keys.agent, id).await {
                Ok(p) => match p.process_state() {
                    Some(ProcessState::Success) => Some((true, String::new())),
                    Some(ProcessState::Failed | ProcessState::Cancelled) => {
                        Some((false, format!("cleanup failed: {}", p.errors.join("; "))))
                    }
                    _ => None,
                },
                Err(e) if e.status() == Some(404) => {
                    Some((true, "cleanup process no longer known".to_string()))
                }
                Err(e) => return Err(e.into()),
            },
            None if maestro_common::time::age(removal.removed_at_ms) > CLEANUP_LOOKUP_LIMIT => {
                Some((true, "no cleanup process found".to_string()))
            }
            None => None,
        };
        let Some((removed, message)) = outcome else {
            return Ok(false);
        };
        ctx.outbox.append(Record {
            blueprint: removal.name.clone(),
            generation: removal.generation,
            stream: "status".to_string(),
            intent_id: removal.intent_id.clone(),
            order_id: removal.order_id.clone(),
            body: Some(record::Body::Status(BlueprintStatus {
                kind: removal.kind.clone(),
                removed,
                message,
                ..BlueprintStatus::default()
            })),
            ..Record::default()
        })?;
        self.removals.forget(&removal.name)?;
        Ok(true)
    }

    async fn find_cleanup(&self, removal: &PendingRemoval) -> Result<Option<Process>, Error> {
        let ctx = &self.ctx;
        for state in [
            ProcessState::Success,
            ProcessState::Failed,
            ProcessState::Running,
            ProcessState::Waiting,
        ] {
            let list = ctx
                .client
                .get_processes(&ctx.keys.agent, &ctx.colony, state, 100)
                .await?;
            let found = list.into_iter().find(|p| {
                p.spec.func_name == "cleanup"
                    && p.spec.kwarg_str("blueprintName") == Some(removal.name.as_str())
                    && p.submission_time.timestamp_millis() >= removal.removed_at_ms - SKEW_MS
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// Longest sync error a heartbeat carries (the log server takes up to 2048 bytes).
const MAX_SYNC_ERROR_BYTES: usize = 1024;

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn heartbeat(blueprints: u32, sync: &SyncState) -> SiteHeartbeat {
    let (free_memory_bytes, free_cpu_millis) = crate::capacity::read();
    SiteHeartbeat {
        free_memory_bytes,
        free_cpu_millis,
        paused: sync
            .paused
            .as_ref()
            .map(|p| cut(&p.reason, MAX_SYNC_ERROR_BYTES))
            .unwrap_or_default(),
        paused_since: sync
            .paused
            .as_ref()
            .map(|p| maestro_common::time::timestamp(p.since_ms)),
        blueprints,
        commit: sync.applied.clone().unwrap_or_default(),
        synced_at: sync.synced_at_ms.map(maestro_common::time::timestamp),
        sync_error: sync
            .error
            .as_deref()
            .map(|e| cut(e, MAX_SYNC_ERROR_BYTES))
            .unwrap_or_default(),
        failing_since: sync.failing_since_ms.map(maestro_common::time::timestamp),
    }
}

fn status_record(bp: &Blueprint, a: &assess::Assessment) -> Record {
    let ann = &bp.metadata.annotations;
    Record {
        blueprint: bp.metadata.name.clone(),
        generation: files::intent_generation(bp),
        stream: "status".to_string(),
        intent_id: ann.get(INTENT_ID).cloned().unwrap_or_default(),
        order_id: ann.get(ORDER_ID).cloned().unwrap_or_default(),
        traceparent: ann
            .get(maestro_common::contract::ANN_TRACEPARENT)
            .filter(|t| maestro_common::telemetry::context::parse(t).is_some())
            .cloned()
            .unwrap_or_default(),
        body: Some(record::Body::Status(BlueprintStatus {
            kind: bp.kind.clone(),
            ready_instances: a.ready,
            total_instances: a.total,
            converged: a.converged,
            removed: false,
            status_json: serde_json::to_string(&bp.status).unwrap_or_default(),
            message: a.message.clone(),
        })),
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pause::Pause;

    #[test]
    fn a_heartbeat_says_whether_and_since_when_the_site_is_paused() {
        let mut sync = SyncState::default();
        let h = heartbeat(3, &sync);
        assert_eq!((h.paused.as_str(), h.paused_since), ("", None));
        sync.paused = Some(Pause {
            reason: "line 3 cutover".into(),
            since_ms: 1_700_000_000_123,
        });
        let h = heartbeat(3, &sync);
        assert_eq!(h.paused, "line 3 cutover");
        assert_eq!(
            h.paused_since,
            Some(maestro_common::time::timestamp(1_700_000_000_123))
        );
        assert_eq!(h.blueprints, 3);
    }
}
