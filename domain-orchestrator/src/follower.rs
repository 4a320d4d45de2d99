//! Follows the log server from a persisted cursor: keeps the latest status per (site,
//! blueprint) and when each site was last heard, and recomputes the status of affected intents.
//!
//! A heartbeat affects the intents with a blueprint at its site only when it changes what their
//! status says (the site's commit, sync failure or pause), or when the last-heard time those
//! statuses carry is due for a refresh ([`HeardRefresh`]): heartbeats that only say "still
//! here" cost one store write each, not a status per intent at the site.
//!
//! Invariant: a status record never reconciles. It changes what was observed, not what is
//! desired, so it updates intent status (a pure roll-up over the stores) and publishes it to
//! watchers; rendering templates and publishing to Git happen only for intent changes,
//! requeues and retries (see `controller`).

use crate::context::Context;
use crate::source::StatusSource;
use crate::status::{HealthVerdict, ObservedBlueprint, SiteSync};
use crate::store::{RenderedIntent, StoreError};
use futures::{FutureExt, StreamExt};
use maestro_common::backoff::Backoff;
use maestro_common::contract;
use maestro_proto::logs::v1::{Record, record::Body};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why following stopped for a while.
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error("log server: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Follows `source` until `shutdown`, reconnecting with backoff.
pub async fn follow(ctx: Arc<Context>, source: Arc<dyn StatusSource>, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut refresh = HeardRefresh::new(ctx.site_unreachable_after_ms());
    while !shutdown.is_cancelled() {
        match follow_once(&ctx, source.as_ref(), &shutdown, &mut backoff, &mut refresh).await {
            Ok(()) => tracing::info!("log server subscription ended; resubscribing"),
            Err(e) => tracing::warn!(error = %e, "following the log server failed"),
        }
        if backoff.wait(&shutdown).await {
            break;
        }
    }
}

async fn follow_once(
    ctx: &Context,
    source: &dyn StatusSource,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    refresh: &mut HeardRefresh,
) -> Result<(), FollowError> {
    let mut cursor = ctx.observed.cursor()?;
    let mut stream = tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        s = source.subscribe(cursor, true, Vec::new()) => s?,
    };
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            n = stream.next() => n,
        };
        let Some(first) = next.transpose()? else {
            return Ok(());
        };
        backoff.reset();
        // The records already received are applied with the first one, and the status of each
        // intent they affect is computed once for all of them (not once per record).
        let mut batch = vec![first];
        let mut ended = None;
        while batch.len() < MAX_BATCH {
            match stream.next().now_or_never() {
                Some(Some(Ok(record))) => batch.push(record),
                Some(Some(Err(e))) => {
                    ended = Some(Err(e.into()));
                    break;
                }
                Some(None) => {
                    ended = Some(Ok(()));
                    break;
                }
                None => break,
            }
        }
        let mut rendered = None;
        let mut affected: BTreeMap<String, Origin> = BTreeMap::new();
        let start = cursor;
        for record in &batch {
            if record.sequence <= cursor {
                continue;
            }
            let is_status = matches!(record.body, Some(Body::Status(_)));
            for id in apply_record(ctx, record, &mut rendered, refresh)? {
                let origin = affected.entry(id).or_insert_with(|| Origin::of(record));
                if is_status {
                    *origin = Origin::of(record);
                }
            }
            cursor = record.sequence;
        }
        if cursor > start {
            ctx.observed.set_cursor(cursor)?;
        }
        for (id, origin) in affected {
            if let Some(intent) = ctx.store.get(&id)? {
                // A site's status of an intent joins the intent's order trace.
                let span = tracing::info_span!("status.follow", intent.id = %id, site = %origin.site, blueprint = %origin.blueprint);
                if origin.is_status {
                    maestro_common::telemetry::context::set_parent(&span, &intent.traceparent);
                }
                let _entered = span.enter();
                ctx.refresh_status(&intent);
            }
        }
        if let Some(end) = ended {
            return end;
        }
    }
}

/// Most records applied together before the statuses they affect are computed.
const MAX_BATCH: usize = 512;

/// The record an intent's recomputed status is traced to: the batch's last status record of
/// it, else the first record that affected it.
struct Origin {
    site: String,
    blueprint: String,
    is_status: bool,
}

impl Origin {
    fn of(record: &Record) -> Self {
        Origin {
            site: record.site.clone(),
            blueprint: record.blueprint.clone(),
            is_status: matches!(record.body, Some(Body::Status(_))),
        }
    }
}

/// When heartbeats last refreshed the last-heard times that intents' statuses carry: per site
/// (a heartbeat of a site refreshed at most `every` ago affects no intent) and per intent (an
/// intent whose sites heartbeat is recomputed for it at most once per `every`, however many
/// sites it has). `every` is half the unreachable threshold, so a reachable site's last-heard
/// time, as the statuses show it, is never older than that plus one heartbeat interval.
pub(crate) struct HeardRefresh {
    every: i64,
    sites: Marks,
    intents: Marks,
}

/// The refresh interval when the unreachable check is off (`site_unreachable_after_ms = 0`).
const REFRESH_WITHOUT_THRESHOLD_MS: i64 = 15_000;

impl HeardRefresh {
    pub(crate) fn new(unreachable_after_ms: u64) -> Self {
        let every = match i64::try_from(unreachable_after_ms / 2) {
            Ok(0) => REFRESH_WITHOUT_THRESHOLD_MS,
            Ok(half) => half,
            Err(_) => i64::MAX,
        };
        HeardRefresh {
            every,
            sites: Marks::default(),
            intents: Marks::default(),
        }
    }

    /// Whether a heartbeat of `site` heard at `heard` (millis) may refresh: its first, or one
    /// `every` after its last refresh (a site silent that long may also have turned
    /// unreachable). Marks it refreshed when so.
    fn site_due(&mut self, site: &str, heard: i64) -> bool {
        self.sites.due_then_mark(site, heard, self.every)
    }

    /// Whether intent `id` is to be refreshed by a heartbeat heard at `heard`; marks it so.
    fn intent_due(&mut self, id: &str, heard: i64) -> bool {
        self.intents.due_then_mark(id, heard, self.every)
    }
}

/// When each key (a site, an intent) was last refreshed. A mark `every` old says what no mark
/// says (due), so marks that old are dropped whenever the map has doubled since the last drop:
/// the map holds about what one interval refreshed, not every intent ever refreshed (deleted
/// intents included), at an amortised constant cost per mark.
#[derive(Default)]
struct Marks {
    at: HashMap<String, i64>,
    prune_above: usize,
}

/// The fewest marks kept before old ones are dropped.
const MARKS_KEPT: usize = 1024;

impl Marks {
    fn due_then_mark(&mut self, key: &str, heard: i64, every: i64) -> bool {
        let due = self
            .at
            .get(key)
            .is_none_or(|at| heard.saturating_sub(*at) >= every);
        if due {
            self.at.insert(key.to_string(), heard);
            if self.at.len() > self.prune_above.max(MARKS_KEPT) {
                self.at.retain(|_, at| heard.saturating_sub(*at) < every);
                self.prune_above = self.at.len() * 2;
            }
        }
        due
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.at.len()
    }
}

/// Every rendered intent, read once per batch of records.
type RenderedCache = Option<Vec<(String, RenderedIntent)>>;

fn all_rendered<'c>(
    ctx: &Context,
    cache: &'c mut RenderedCache,
) -> Result<&'c [(String, RenderedIntent)], StoreError> {
    if cache.is_none() {
        *cache = Some(ctx.store.all_rendered()?);
    }
    Ok(cache.as_deref().unwrap_or_default())
}

/// Stores what `record` says and returns the intents whose status may have changed.
fn apply_record(
    ctx: &Context,
    record: &Record,
    rendered: &mut RenderedCache,
    refresh: &mut HeardRefresh,
) -> Result<BTreeSet<String>, StoreError> {
    let mut affected = BTreeSet::new();
    if (!record.domain.is_empty() && record.domain != ctx.domain) || record.site.is_empty() {
        return Ok(affected);
    }
    // Liveness is judged on the log server's clock (when the record arrived), falling back to
    // the site's clock: a site whose clock runs late must not look silent.
    let observed_at = maestro_common::time::millis(record.observed_at.as_ref());
    let heard = match maestro_common::time::millis(record.received_at.as_ref()) {
        0 => observed_at,
        t => t,
    };
    let heard = if heard == 0 {
        maestro_common::time::now_millis()
    } else {
        heard
    };
    ctx.observed.heard(&record.site, heard)?;
    if ctx.sites.contains(&record.site) {
        crate::metrics::site_heard(&record.site, heard);
    }
    match &record.body {
        Some(Body::Status(s)) if !record.blueprint.is_empty() => {
            let desired = desired_generation(ctx, record)?;
            let verdict = |v: Option<contract::Verdict>| v.map(|v| HealthVerdict::new(desired, v));
            let observed = ObservedBlueprint {
                generation: record.generation,
                converged: s.converged,
                removed: s.removed,
                message: s.message.clone(),
                sequence: record.sequence,
                observed_at,
                refused: contract::refusal_at(&s.status_json, record.generation),
                unhealthy: verdict(contract::unhealthy_at(&s.status_json, desired)),
                fell_back: verdict(contract::fell_back_at(&s.status_json, desired)),
            };
            ctx.observed
                .put_observed(&record.site, &record.blueprint, &observed)?;
            if record.intent_id.is_empty() {
                for (id, r) in all_rendered(ctx, rendered)? {
                    if r.blueprints.iter().any(|b| {
                        b.site.as_str() == record.site && b.name.as_str() == record.blueprint
                    }) {
                        affected.insert(id.clone());
                    }
                }
            } else {
                affected.insert(record.intent_id.clone());
            }
        }
        Some(Body::Heartbeat(h)) => {
            let at = |t: &Option<prost_types::Timestamp>| {
                t.as_ref().map(|t| maestro_common::time::millis(Some(t)))
            };
            let sync = SiteSync {
                commit: h.commit.clone(),
                synced_at_ms: at(&h.synced_at),
                error: h.sync_error.clone(),
                failing_since_ms: at(&h.failing_since),
                paused: h.paused.clone(),
                paused_since_ms: at(&h.paused_since),
                free_memory_bytes: h.free_memory_bytes,
                free_cpu_millis: h.free_cpu_millis,
                reported_at_ms: maestro_common::time::now_millis(),
            };
            let before = ctx.observed.site_sync(&record.site)?;
            // A pause is a reason in the status of every intent that targets the site, also of
            // those that run nothing there yet (maestro's rollouts need to know before they start
            // the site): all are recomputed when it starts or ends.
            let pause_changed = before.as_ref().is_none_or(|b| {
                (b.paused.as_str(), b.paused_since_ms)
                    != (sync.paused.as_str(), sync.paused_since_ms)
            });
            let changed = before.is_none_or(|b| !b.same_for_status(&sync));
            let due = refresh.site_due(&record.site, heard);
            if due || changed {
                for (id, r) in all_rendered(ctx, rendered)? {
                    let here = r.blueprints.iter().any(|b| b.site.as_str() == record.site);
                    if pause_changed || (here && (changed || refresh.intent_due(id, heard))) {
                        affected.insert(id.clone());
                    }
                }
            }
            // Stored once the intents it affects are known: when reading them fails, the
            // batch is followed again and the change is seen again.
            ctx.observed.put_site_sync(&record.site, &sync)?;
        }
        _ => {}
    }
    Ok(affected)
}

/// The generation the record's site is to run of the record's intent (what its health verdicts
/// are read about); the record's own generation when the intent or the site's place in it is
/// unknown.
fn desired_generation(ctx: &Context, record: &Record) -> Result<u64, StoreError> {
    if record.intent_id.is_empty() {
        return Ok(record.generation);
    }
    Ok(ctx
        .store
        .get(&record.intent_id)?
        .and_then(|i| i.desired_generation(&record.site))
        .unwrap_or(record.generation))
}

#[cfg(test)]
mod tests;
