//! The sync loop: fetch, snapshot, diff against the colony, apply.

use std::collections::{BTreeMap, BTreeSet};

use colony::model::Blueprint;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::files::{self, FileProblem, INTENT_ID, ORDER_ID};
use super::mirror::{Entry, GitMirror, Snapshot};
use super::notices::Notices;
use super::order::{self, ColonyEntry, DesiredEntry, OrderPlan};
use crate::Error;
use crate::context::SiteContext;
use crate::report::refusal;
use crate::report::removals::{PendingRemoval, Removals};

mod pause;
mod verification;
mod wake;

pub use verification::Verification;
pub use wake::SyncTiming;
use wake::{Next, Wake};

const APPLIED_KEY: &[u8] = b"git/applied";

/// Keeps the colony's managed blueprints equal to the site's files in Git.
#[derive(Debug)]
pub struct GitSync {
    ctx: SiteContext,
    mirror: GitMirror,
    meta: sled::Tree,
    removals: Removals,
    /// The colony was compared with the applied commit since this agent started.
    checked: bool,
    /// Commit whose file problems were already reported.
    reported_problems: Option<String>,
    fetch_failing: bool,
    /// What each blueprint waits for, as last logged (logged again only when it changes).
    waiting_logged: BTreeMap<String, String>,
    /// The colony's refusal last reported per blueprint: (intent generation, reason).
    refusals_reported: BTreeMap<String, (u64, String)>,
    /// How commits are verified before they are applied.
    verification: Verification,
    /// The commit refused last and the sentence reported for it.
    refused: Option<(String, String)>,
    /// The local pause ([`crate::pause`]).
    pause: pause::PauseState,
}

/// What one apply did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Blueprints added.
    pub added: Vec<String>,
    /// Blueprints updated.
    pub updated: Vec<String>,
    /// Blueprints removed.
    pub removed: Vec<String>,
    /// Colony operations that failed (the commit is then not marked applied).
    pub errors: Vec<String>,
    /// Blueprints left for a later round by dependency order: changes waiting for a
    /// dependency, removals waiting for their dependents (the commit is then not marked applied).
    pub waiting: Vec<String>,
}

impl ApplyOutcome {
    /// True when the apply added, updated or removed a blueprint in the colony.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }

    /// True when the status reporter should look at the colony now: something there changed or
    /// is still to change (errors, blueprints waiting). A re-check that found everything in place
    /// (every minute) leaves it asleep: its own schedule looks at least once a minute.
    pub fn wants_a_look(&self) -> bool {
        self.changed() || !self.errors.is_empty() || !self.waiting.is_empty()
    }
}

impl GitSync {
    /// A sync of `mirror` into the colony of `ctx`, applying only commits that pass
    /// `verification`.
    pub fn new(
        ctx: SiteContext,
        mirror: GitMirror,
        verification: Verification,
    ) -> Result<Self, Error> {
        let meta = ctx.db.open_tree("meta")?;
        ctx.sync.restore(
            meta.get(APPLIED_KEY)?
                .map(|v| String::from_utf8_lossy(&v).into_owned()),
        );
        Ok(Self {
            meta,
            removals: Removals::open(&ctx.db)?,
            ctx,
            mirror,
            checked: false,
            reported_problems: None,
            fetch_failing: false,
            waiting_logged: BTreeMap::new(),
            refusals_reported: BTreeMap::new(),
            verification,
            refused: None,
            pause: pause::PauseState::default(),
        })
    }

    /// Syncs until `shutdown`: fetches after every commit notice naming a commit not applied
    /// yet, every `timing.interval` while no notice stream is open (every
    /// `timing.noticed_interval` while one is) and sooner while blueprints wait for a dependency;
    /// re-checks the colony against the commit already fetched every `timing.recheck`, without
    /// fetching.
    pub async fn run(
        mut self,
        timing: SyncTiming,
        mut notices: Option<watch::Receiver<Notices>>,
        shutdown: CancellationToken,
    ) {
        let mut next_recheck = Instant::now() + timing.recheck;
        let mut fetch = true;
        let mut last_fetch = Instant::now();
        loop {
            let force = Instant::now() >= next_recheck;
            if force {
                next_recheck = Instant::now() + timing.recheck;
            }
            let started = Instant::now();
            let waiting = tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.sync_once(force, fetch) => match r {
                    Ok(outcome) => {
                        crate::metrics::synced(Some(outcome.is_some()), started.elapsed().as_secs_f64());
                        outcome.is_some_and(|o| !o.waiting.is_empty())
                    }
                    Err(e) => {
                        crate::metrics::synced(None, started.elapsed().as_secs_f64());
                        tracing::warn!(error = %e, site = %self.ctx.site, "sync failed; retrying next interval");
                        false
                    }
                },
            };
            if fetch {
                last_fetch = Instant::now();
            }
            let applied = self.applied_commit().ok().flatten();
            let wake = Wake {
                timing,
                waiting,
                next_recheck,
                last_fetch,
                applied,
            };
            fetch = match wake.until(notices.as_mut(), &shutdown).await {
                Next::Shutdown => return,
                Next::Fetch => true,
                Next::Recheck => false,
            };
        }
    }

    /// The commit last applied completely to the colony.
    pub fn applied_commit(&self) -> Result<Option<String>, Error> {
        Ok(self
            .meta
            .get(APPLIED_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// One round: fetch when `fetch` (or fall back to the last fetched commit; without `fetch`,
    /// take it), then apply when the commit changed (unless paused locally), on the first round
    /// after start, or when `force`. After a fetch, the mirror is compacted when its packs (one
    /// per fetch) passed their bound: after the round, so the commit it brought is applied first.
    pub async fn sync_once(
        &mut self,
        force: bool,
        fetch: bool,
    ) -> Result<Option<ApplyOutcome>, Error> {
        let outcome = self.round(force, fetch).await;
        if fetch {
            // Maintenance: its failure is logged and never fails the round it follows.
            let mirror = self.mirror.clone();
            if let Err(e) = blocking(move || mirror.compact()).await {
                tracing::warn!(site = %self.ctx.site, error = %e, "compacting the site's Git mirror failed");
            }
        }
        outcome
    }

    async fn round(&mut self, force: bool, fetch: bool) -> Result<Option<ApplyOutcome>, Error> {
        let tip = if fetch {
            self.fetch().await?
        } else {
            let mirror = self.mirror.clone();
            blocking(move || mirror.last_fetched()).await?
        };
        let paused = self.read_pause();
        let Some(tip) = tip else { return Ok(None) };
        let applied = self.applied_commit()?;
        if applied.as_deref() == Some(tip.as_str()) && self.checked && !force {
            if !self.fetch_failing {
                self.ctx.sync.applied(&tip, now_millis());
                self.settle()?;
            }
            return Ok(None);
        }
        if let Some(p) = &paused
            && applied.as_deref() != Some(tip.as_str())
        {
            self.hold(p, &tip, applied.as_deref())?;
            return Ok(None);
        }
        if let Some((commit, sentence)) = &self.refused
            && *commit == tip
            && !force
        {
            self.ctx.sync.failed(sentence.clone(), now_millis());
            return Ok(None);
        }
        let (mirror, site, commit) = (self.mirror.clone(), self.ctx.site.clone(), tip.clone());
        let snapshot = blocking(move || mirror.snapshot(&commit, &site)).await?;
        if let Err(reason) = self.verify(&snapshot).await? {
            self.refuse(&tip, &reason);
            return Ok(None);
        }
        self.refused = None;
        let outcome = match self.apply(&snapshot, applied.as_deref()).await {
            Ok(o) => o,
            Err(e) => {
                self.ctx
                    .sync
                    .failed(format!("applying {}: {e}", short(&tip)), now_millis());
                return Err(e);
            }
        };
        if outcome.errors.is_empty() && outcome.waiting.is_empty() {
            // A re-check of the commit already applied writes nothing: an idle site's disk
            // sees no write per sync round.
            if self.meta.get(APPLIED_KEY)?.as_deref() != Some(tip.as_bytes()) {
                self.meta.insert(APPLIED_KEY, tip.as_bytes())?;
                maestro_common::durable::flush(&self.ctx.db).await?;
            }
            self.checked = true;
            self.ctx.sync.applied(&tip, now_millis());
            crate::metrics::running_commit(snapshot.committed_ms);
            if !self.fetch_failing {
                self.settle()?;
            }
        } else if !outcome.errors.is_empty() {
            self.ctx.sync.failed(
                format!("applying {}: {}", short(&tip), outcome.errors.join("; ")),
                now_millis(),
            );
        }
        if outcome.changed() {
            tracing::info!(site = %self.ctx.site, commit = %tip, added = ?outcome.added, updated = ?outcome.updated,
                removed = ?outcome.removed, "synced blueprints");
        }
        if outcome.wants_a_look() {
            self.ctx.poke_reporter();
        }
        Ok(Some(outcome))
    }

    /// Fetches the branch; when that fails, says so once and falls back to the commit fetched
    /// last.
    async fn fetch(&mut self) -> Result<Option<String>, Error> {
        let mirror = self.mirror.clone();
        let fetched = blocking(move || mirror.fetch()).await;
        match fetched {
            Ok(tip) => {
                if self.fetch_failing {
                    self.fetch_failing = false;
                    self.ctx
                        .outbox
                        .log("info", "", "gitsync", "git fetch recovered");
                }
                Ok(tip)
            }
            Err(e) => {
                tracing::warn!(error = %e, remote = %self.ctx.site, "git fetch failed; using the last fetched commit");
                // Offline for longer than the manifest is valid: it says so too.
                let message = match self.stale_note()? {
                    Some(stale) => format!("git fetch failed: {e}; {stale}"),
                    None => format!("git fetch failed: {e}"),
                };
                self.ctx.sync.failed(message, now_millis());
                if !self.fetch_failing {
                    self.fetch_failing = true;
                    self.ctx.outbox.log(
                        "warn",
                        "",
                        "gitsync",
                        format!("git fetch failed: {e}; keeping the last synced commit"),
                    );
                }
                let mirror = self.mirror.clone();
                blocking(move || mirror.last_fetched()).await
            }
        }
    }

    async fn apply(
        &mut self,
        snap: &Snapshot,
        previous: Option<&str>,
    ) -> Result<ApplyOutcome, Error> {
        let ctx = self.ctx.clone();
        let mut problems = Vec::new();
        let mut outcome = ApplyOutcome::default();
        self.apply_definitions(snap, &mut problems, &mut outcome)
            .await?;

        let (desired, protected) = desired_blueprints(snap, &ctx.colony, &ctx.site, &mut problems);
        if self.reported_problems.as_deref() != Some(snap.commit.as_str()) {
            for p in &problems {
                let bp = p.protected_name.clone().unwrap_or_default();
                ctx.outbox.log(
                    "error",
                    &bp,
                    "gitsync",
                    format!(
                        "skipped {} at {}: {}",
                        p.path,
                        short(&snap.commit),
                        p.reason
                    ),
                );
            }
            self.reported_problems = Some(snap.commit.clone());
        }

        let current = ctx
            .client
            .get_blueprints(&ctx.keys.agent, &ctx.colony, None, None)
            .await?;
        let current: BTreeMap<String, Blueprint> = current
            .into_iter()
            .map(|b| (b.metadata.name.clone(), b))
            .collect();
        let mut unmanaged = BTreeSet::new();
        for name in desired.keys() {
            if current.get(name).is_some_and(|cur| !files::is_managed(cur)) {
                unmanaged.insert(name.clone());
                outcome.errors.push(format!(
                    "{name}: exists in the colony but is not managed by maestro"
                ));
                ctx.outbox.log("error", name, "gitsync", "a blueprint of that name exists in the colony without the maestro.io/intent-id annotation; not touched");
            }
        }
        let plan = self.plan(&desired, &current, &protected, &unmanaged)?;
        for name in &plan.apply {
            let want = &desired[name];
            let result = match current.get(name) {
                None => self.add(want, &mut outcome).await,
                Some(cur) if cur.kind != want.kind => {
                    match ctx
                        .client
                        .remove_blueprint(&ctx.keys.agent, &ctx.colony, name)
                        .await
                    {
                        Ok(()) => self.add(want, &mut outcome).await,
                        Err(e) => Err(e.into()),
                    }
                }
                Some(cur) => {
                    let mut next = cur.clone();
                    next.spec = want.spec.clone();
                    next.metadata.labels = want.metadata.labels.clone();
                    next.metadata.annotations = want.metadata.annotations.clone();
                    next.metadata.location_name = want.metadata.location_name.clone();
                    match ctx
                        .client
                        .update_blueprint(&ctx.keys.agent, &next, false)
                        .await
                    {
                        Ok(_) => {
                            outcome.updated.push(name.clone());
                            Ok(())
                        }
                        Err(e) => Err(e.into()),
                    }
                }
            };
            if let Err(e) = result {
                outcome.errors.push(format!("{name}: {e}"));
                ctx.outbox.log(
                    "error",
                    name,
                    "gitsync",
                    format!("applying blueprint failed: {e}"),
                );
                if let Some(reason) = refusal::refusal_reason(&e) {
                    self.report_refusal(want, reason)?;
                }
            }
        }
        for name in &plan.remove {
            let Some(cur) = current.get(name) else {
                continue;
            };
            if let Err(e) = self.remove(cur, previous, &snap.commit, &mut outcome).await {
                outcome.errors.push(format!("{name}: {e}"));
                ctx.outbox.log(
                    "error",
                    name,
                    "gitsync",
                    format!("removing blueprint failed: {e}"),
                );
            }
        }
        self.log_waiting(&plan);
        outcome.waiting = plan
            .waiting
            .iter()
            .map(|w| w.name.clone())
            .chain(plan.held.iter().map(|h| h.name.clone()))
            .collect();
        Ok(outcome)
    }

    /// Dependency order of this round: which changes and removals may happen now.
    fn plan(
        &self,
        desired: &BTreeMap<String, Blueprint>,
        current: &BTreeMap<String, Blueprint>,
        protected: &BTreeSet<String>,
        unmanaged: &BTreeSet<String>,
    ) -> Result<OrderPlan, Error> {
        let wanted: BTreeMap<String, DesiredEntry> = desired
            .iter()
            .filter(|(name, _)| !unmanaged.contains(*name))
            .map(|(name, want)| {
                let changed = current
                    .get(name)
                    .is_none_or(|cur| cur.kind != want.kind || differs(cur, want));
                let entry = DesiredEntry {
                    depends_on: order::dependencies(want),
                    changed,
                };
                (name.clone(), entry)
            })
            .collect();
        let colony: BTreeMap<String, ColonyEntry> = current
            .iter()
            .map(|(name, bp)| {
                let entry = ColonyEntry {
                    depends_on: order::dependencies(bp),
                    converged: crate::report::assess::assess(bp).converged,
                };
                (name.clone(), entry)
            })
            .collect();
        let removable: BTreeSet<String> = current
            .iter()
            .filter(|(name, cur)| {
                files::is_managed(cur) && !desired.contains_key(*name) && !protected.contains(*name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let cleaning_up: BTreeMap<String, Vec<String>> = self
            .removals
            .list()?
            .into_iter()
            .filter(|r| !current.contains_key(&r.name))
            .map(|r| (r.name, r.depends_on))
            .collect();
        Ok(order::plan_order(
            &wanted,
            &colony,
            &removable,
            &cleaning_up,
        ))
    }

    /// Logs (once per change) what each held-back blueprint waits for.
    fn log_waiting(&mut self, plan: &OrderPlan) {
        let mut now = BTreeMap::new();
        for w in &plan.waiting {
            let message = format!("waiting for dependency {} ({})", w.dependency, w.reason);
            now.insert(w.name.clone(), message);
        }
        for h in &plan.held {
            let message = format!(
                "removal waiting for dependent {} to be removed first",
                h.dependent
            );
            now.insert(h.name.clone(), message);
        }
        for (name, message) in &now {
            if self.waiting_logged.get(name) != Some(message) {
                tracing::info!(site = %self.ctx.site, blueprint = %name, "{message}");
                self.ctx
                    .outbox
                    .log("info", name, "gitsync", message.clone());
            }
        }
        self.waiting_logged = now;
    }

    async fn apply_definitions(
        &self,
        snap: &Snapshot,
        problems: &mut Vec<FileProblem>,
        outcome: &mut ApplyOutcome,
    ) -> Result<(), Error> {
        let ctx = &self.ctx;
        let mut wanted = Vec::new();
        for (file, entry) in &snap.definitions {
            let bytes = match entry {
                Entry::File(b) => b,
                Entry::NotAFile => continue,
                Entry::Refused(reason) => {
                    problems.push(FileProblem {
                        path: format!("definitions/{file}"),
                        reason: reason.clone(),
                        protected_name: None,
                    });
                    continue;
                }
            };
            match files::parse_definition(file, bytes, &ctx.colony) {
                Ok(d) => wanted.push(d),
                Err(reason) => problems.push(FileProblem {
                    path: format!("definitions/{file}"),
                    reason,
                    protected_name: None,
                }),
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let existing = ctx
            .client
            .get_blueprint_definitions(&ctx.keys.agent, &ctx.colony)
            .await?;
        let kinds: BTreeSet<&str> = existing
            .iter()
            .map(|d| d.spec.names.kind.as_str())
            .collect();
        for def in wanted
            .iter()
            .filter(|d| !kinds.contains(d.spec.names.kind.as_str()))
        {
            let kind = &def.spec.names.kind;
            let Some(owner) = &ctx.keys.colony_owner else {
                outcome
                    .errors
                    .push(format!("definition {kind}: no colony owner key"));
                ctx.outbox.log("error", "", "gitsync", format!("blueprint definition {kind} is missing in the colony and the agent has no colony owner key"));
                continue;
            };
            match ctx.client.add_blueprint_definition(owner, def).await {
                Ok(_) => ctx.outbox.log(
                    "info",
                    "",
                    "gitsync",
                    format!("added blueprint definition {kind}"),
                ),
                Err(e) => {
                    outcome.errors.push(format!("definition {kind}: {e}"));
                    ctx.outbox.log(
                        "error",
                        "",
                        "gitsync",
                        format!("adding blueprint definition {kind} failed: {e}"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Reports the colony's refusal of `want` as its status, once per generation and reason.
    fn report_refusal(&mut self, want: &Blueprint, reason: String) -> Result<(), Error> {
        let key = (files::intent_generation(want), reason);
        if self.refusals_reported.get(&want.metadata.name) == Some(&key) {
            return Ok(());
        }
        self.ctx
            .outbox
            .append(refusal::refused_record(want, &key.1))?;
        self.refusals_reported
            .insert(want.metadata.name.clone(), key);
        Ok(())
    }

    async fn add(&self, want: &Blueprint, outcome: &mut ApplyOutcome) -> Result<(), Error> {
        let ctx = &self.ctx;
        let span = tracing::info_span!("blueprint.apply", blueprint = %want.metadata.name, kind = %want.kind);
        if let Some(tp) = want
            .metadata
            .annotations
            .get(maestro_common::contract::ANN_TRACEPARENT)
        {
            maestro_common::telemetry::context::set_parent(&span, tp);
        }
        tracing::Instrument::instrument(ctx.client.add_blueprint(&ctx.keys.agent, want), span)
            .await?;
        // A re-added blueprint supersedes an unreported removal of the same name.
        self.removals.forget(&want.metadata.name)?;
        outcome.added.push(want.metadata.name.clone());
        Ok(())
    }

    async fn remove(
        &self,
        cur: &Blueprint,
        previous: Option<&str>,
        tip: &str,
        outcome: &mut ApplyOutcome,
    ) -> Result<(), Error> {
        let ctx = &self.ctx;
        let name = &cur.metadata.name;
        let intent_id = cur
            .metadata
            .annotations
            .get(INTENT_ID)
            .cloned()
            .unwrap_or_default();
        let (mirror, from, to, id) = (
            self.mirror.clone(),
            previous.map(str::to_string),
            tip.to_string(),
            intent_id.clone(),
        );
        let info = blocking(move || mirror.intent_commit_info(from.as_deref(), &to, &id))
            .await
            .unwrap_or(None);
        let (generation, order_id) = info.unwrap_or_else(|| {
            (
                files::intent_generation(cur),
                cur.metadata
                    .annotations
                    .get(ORDER_ID)
                    .cloned()
                    .unwrap_or_default(),
            )
        });
        let pending = PendingRemoval {
            name: name.clone(),
            kind: cur.kind.clone(),
            intent_id,
            order_id,
            generation,
            removed_at_ms: maestro_common::time::now_millis(),
            cleanup_process: None,
            depends_on: order::dependencies(cur),
        };
        // Recorded first so a crash between the two steps still reports the removal.
        self.removals.put(&pending)?;
        match ctx
            .client
            .remove_blueprint(&ctx.keys.agent, &ctx.colony, name)
            .await
        {
            Ok(()) => {}
            Err(e) if e.status() == Some(404) => {}
            Err(e) => {
                self.removals.forget(name)?;
                return Err(e.into());
            }
        }
        outcome.removed.push(name.clone());
        Ok(())
    }
}

/// The valid blueprint files of a snapshot by name, and the names of broken files (kept).
fn desired_blueprints(
    snap: &Snapshot,
    colony: &str,
    site: &str,
    problems: &mut Vec<FileProblem>,
) -> (BTreeMap<String, Blueprint>, BTreeSet<String>) {
    let mut desired = BTreeMap::new();
    let mut protected = BTreeSet::new();
    for (rel, bytes) in &snap.site_files {
        let path = format!("sites/{site}/{rel}");
        let mut problem = |reason: String, name: Option<String>| {
            if let Some(n) = &name {
                protected.insert(n.clone());
            }
            problems.push(FileProblem {
                path: path.clone(),
                reason,
                protected_name: name,
            });
        };
        let (kind, name) = match files::parse_blueprint_path(rel) {
            Ok(kn) => kn,
            Err(reason) => {
                problem(reason, None);
                continue;
            }
        };
        let bytes = match bytes {
            Entry::File(b) => b,
            Entry::NotAFile => {
                problem("not a file".to_string(), Some(name));
                continue;
            }
            // The blueprint already in the colony (if any) keeps running.
            Entry::Refused(reason) => {
                problem(reason.clone(), Some(name));
                continue;
            }
        };
        if desired.contains_key(&name) {
            problem(
                format!("a blueprint named {name:?} is already defined under another kind"),
                None,
            );
            continue;
        }
        match files::parse_blueprint(&kind, &name, bytes, colony, site) {
            Ok(bp) => {
                desired.insert(name, bp);
            }
            Err(reason) => problem(reason, Some(name)),
        }
    }
    (desired, protected)
}

fn differs(cur: &Blueprint, want: &Blueprint) -> bool {
    cur.spec != want.spec
        || cur.metadata.labels != want.metadata.labels
        || cur.metadata.annotations != want.metadata.annotations
        || cur.metadata.location_name != want.metadata.location_name
}

fn now_millis() -> i64 {
    maestro_common::time::now_millis()
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Runtime(format!("blocking task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::ApplyOutcome;

    fn one(name: &str) -> Vec<String> {
        vec![name.to_string()]
    }

    #[test]
    fn a_round_that_found_everything_in_place_wakes_no_reporter() {
        assert!(!ApplyOutcome::default().wants_a_look());
        assert!(!ApplyOutcome::default().changed());
    }

    #[test]
    fn a_change_an_error_or_a_waiting_blueprint_wakes_the_reporter() {
        let outcomes = [
            ApplyOutcome {
                added: one("web"),
                ..Default::default()
            },
            ApplyOutcome {
                updated: one("web"),
                ..Default::default()
            },
            ApplyOutcome {
                removed: one("web"),
                ..Default::default()
            },
            ApplyOutcome {
                errors: one("colony refused web"),
                ..Default::default()
            },
            ApplyOutcome {
                waiting: one("web"),
                ..Default::default()
            },
        ];
        for o in &outcomes {
            assert!(o.wants_a_look(), "{o:?}");
        }
        assert!(outcomes[..3].iter().all(ApplyOutcome::changed));
        assert!(!outcomes[3].changed() && !outcomes[4].changed());
    }
}
