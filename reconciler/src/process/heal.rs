//! Local self-healing: when an instance exits (a child of ours, whose exit its launcher reports,
//! or one whose pidfd says so, [`super::watch`]), its blueprint is converged again at once; new
//! output of an instance is forwarded as it is written; when a convergence held a
//! restart back ([`super::crash_loop`]) or a new instance failed its health check, the
//! reconciler asks for the next convergence, at the time the restart is due. Also the adoption
//! pass at start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use maestro_common::backoff::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ProcessReconciler;
use super::crash_loop::Wake;
use super::launch::ExitEvent;
use super::runtime::is_alive;
use super::scan::{Labelled, labelled_by, still_labelled};
use super::watch::{self, Changed, ExitWatch, OUTPUT_GAP, OutputWatch, Watched};
use crate::{Driver, Level};

/// How often instances the kernel offers no pidfd for are looked at in `/proc`, and how often
/// output files are read when the output folder cannot be watched.
const LOOK_INTERVAL: Duration = Duration::from_secs(1);
/// How often `/proc` is searched for processes of ours that no record knows, and the instance
/// table for instances whose exit nothing watches yet.
const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

pub(super) async fn run(
    driver: Driver<ProcessReconciler>,
    mut exits: mpsc::UnboundedReceiver<ExitEvent>,
    mut wakes: mpsc::UnboundedReceiver<Wake>,
    shutdown: CancellationToken,
) {
    sweep_orphans(&driver).await;
    adopt(&driver, &shutdown).await;
    let (due_tx, mut due_rx) = mpsc::unbounded_channel::<Wake>();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<(String, u32)>();
    let mut output = match OutputWatch::new(driver.reconciler().output.dir()) {
        Ok(watch) => Some(watch),
        Err(e) => {
            tracing::warn!(error = %e, "the output folder cannot be watched; its files are read every second");
            None
        }
    };
    // What was written while the agent was away, then only what is written. The files that
    // gave lines are read again after the gap until a read gives none: a write larger than one
    // read is forwarded whole without waiting for the next write.
    let mut unread = forward_recorded(&driver);
    let mut unread_at = Instant::now() + OUTPUT_GAP;
    let mut watched = Watched::default();
    let mut sweep = tokio::time::interval_at(
        Instant::now() + ORPHAN_SWEEP_INTERVAL,
        ORPHAN_SWEEP_INTERVAL,
    );
    // Per blueprint, the earliest convergence asked for.
    let mut pending: BTreeMap<String, Instant> = BTreeMap::new();
    let mut look = tokio::time::interval(LOOK_INTERVAL);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut asked = watch_unreported(&driver, &mut watched, &ended_tx, &shutdown);
    loop {
        for wake in asked.drain(..) {
            if pending
                .get(&wake.blueprint)
                .is_some_and(|at| *at <= wake.at)
            {
                continue;
            }
            pending.insert(wake.blueprint.clone(), wake.at);
            let tx = due_tx.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep_until(wake.at) => { let _ = tx.send(wake); }
                }
            });
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            Some(ev) = exits.recv() => {
                ended(&driver, &ev.blueprint, ev.pid, &ev.status, &mut asked).await;
            }
            // An instance whose exit no launcher reports ended.
            Some((blueprint, pid)) = ended_rx.recv() => {
                watched.ended(pid);
                let how = "its status is not known: it is not a child of this agent";
                ended(&driver, &blueprint, pid, how, &mut asked).await;
            }
            // A launch helper ended: the exits of what it started go unreported.
            () = driver.reconciler().runtime().reported().lost() => {
                asked.extend(watch_unreported(&driver, &mut watched, &ended_tx, &shutdown));
            }
            changed = next_output(&mut output) => match changed {
                Ok(changed) => {
                    let sent = match changed {
                        Changed::Some(names) => forward_named(&driver, &names),
                        Changed::All => forward_recorded(&driver),
                    };
                    if unread.is_empty() {
                        unread_at = Instant::now() + OUTPUT_GAP;
                    }
                    unread.extend(sent);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching the output folder failed; its files are read every second");
                    output = None;
                }
            },
            _ = look.tick(), if watched.polls() || output.is_none() => {
                let now = Instant::now();
                asked.extend(watched.gone().into_iter().map(|i| Wake { blueprint: i.blueprint, at: now }));
                if output.is_none() {
                    forward_recorded(&driver);
                }
            }
            () = tokio::time::sleep_until(unread_at), if !unread.is_empty() => {
                unread = forward_named(&driver, &unread);
                unread_at = Instant::now() + OUTPUT_GAP;
            }
            // A restart held back, or a start that failed its health check.
            Some(wake) = wakes.recv() => asked.push(wake),
            _ = sweep.tick() => {
                sweep_orphans(&driver).await;
                asked.extend(watch_unreported(&driver, &mut watched, &ended_tx, &shutdown));
            }
            // Only the earliest convergence asked for a blueprint runs; a later one it replaced
            // is dropped here.
            Some(due) = due_rx.recv() => if pending.get(&due.blueprint) == Some(&due.at) {
                pending.remove(&due.blueprint);
                if let Err(e) = driver.reconcile_named(&due.blueprint, None).await {
                    tracing::warn!(error = %e, blueprint = %due.blueprint, "self-heal convergence failed");
                }
            }
        }
    }
}

/// Instance `pid` of `blueprint` ended, `how`: logged, and its blueprint converged, when the
/// instance is still recorded. Instances the reconciler stopped itself are already forgotten
/// and not logged. One a convergence found ended and forgot is logged here when the
/// convergence came first, else by the convergence ([`super::ends`]); it needs no convergence.
async fn ended(
    driver: &Driver<ProcessReconciler>,
    blueprint: &str,
    pid: u32,
    how: &str,
    asked: &mut Vec<Wake>,
) {
    let recorded = matches!(driver.reconciler().table().get(blueprint, pid), Ok(Some(_)));
    if recorded || driver.reconciler().ends.reported(pid, how) {
        let said = format!("instance pid {pid} exited ({how})");
        driver.record(Level::Warn, blueprint, &said, None).await;
    }
    if recorded {
        asked.push(Wake {
            blueprint: blueprint.to_string(),
            at: Instant::now(),
        });
    }
}

/// Watches the exit of every recorded instance whose exit no launcher reports and that is not
/// watched yet; answers the convergences to ask for those already gone.
fn watch_unreported(
    driver: &Driver<ProcessReconciler>,
    watched: &mut Watched,
    ended: &mpsc::UnboundedSender<(String, u32)>,
    shutdown: &CancellationToken,
) -> Vec<Wake> {
    let all = match driver.reconciler().table().all() {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "reading the instance table to watch exits failed");
            return Vec::new();
        }
    };
    let reported = driver.reconciler().runtime().reported();
    let now = Instant::now();
    let mut gone = Vec::new();
    for instance in all {
        if reported.contains(instance.pid) || watched.has(&instance) {
            continue;
        }
        match watch::exit_of(&instance) {
            ExitWatch::Gone => gone.push(Wake {
                blueprint: instance.blueprint,
                at: now,
            }),
            ExitWatch::Watching(exit) => {
                watched.watching(instance.pid);
                let tx = ended.clone();
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = exit => { let _ = tx.send((instance.blueprint, instance.pid)); }
                    }
                });
            }
            ExitWatch::Unwatchable(e) => {
                tracing::debug!(error = %e, pid = instance.pid, "no pidfd; the instance is looked at every second");
                watched.poll(instance);
            }
        }
    }
    gone
}

/// The next change of the output folder; never, when it is not watched.
async fn next_output(output: &mut Option<OutputWatch>) -> std::io::Result<Changed> {
    match output {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

/// Stops every process this reconciler labelled that no record knows: one started but not yet
/// recorded, or forgotten but not yet stopped, when the agent died in between. Runs while no
/// step runs, so nothing is caught between its start and its record. Its slot, if still
/// wanted, is started again by convergence.
pub(super) async fn sweep_orphans(driver: &Driver<ProcessReconciler>) {
    let stopped = driver
        .exclusive(async |r: &ProcessReconciler| {
            let recorded: BTreeSet<(u32, Option<u64>)> = match r.table().all() {
                Ok(all) => all.iter().map(|i| (i.pid, i.start_ticks)).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "orphan sweep: reading the instance table failed");
                    return Vec::new();
                }
            };
            let known = |p: &Labelled| {
                recorded.contains(&(p.pid, Some(p.start_ticks))) || recorded.contains(&(p.pid, None))
            };
            let mut stopped = Vec::new();
            let owner = r.runtime().owner();
            // The scan may be a moment old (shared by the reconcilers of this process): each
            // candidate is read again before it is stopped.
            let candidates = labelled_by(owner).into_iter().filter(|p| !known(p));
            for p in candidates.filter(|p| still_labelled(p, owner)) {
                let index = p
                    .instance
                    .strip_prefix(p.blueprint.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .and_then(|i| i.parse().ok());
                let Some(index) = index else {
                    tracing::warn!(pid = p.pid, instance = %p.instance, "orphan sweep: labels do not name an instance; left alone");
                    continue;
                };
                let orphan = super::table::Instance {
                    blueprint: p.blueprint.clone(),
                    index,
                    pid: p.pid,
                    generation: 0,
                    template: String::new(),
                    started_at_ms: 0,
                    start_ticks: Some(p.start_ticks),
                };
                let result = super::runtime::stop(&orphan, super::STOP_GRACE).await;
                stopped.push((p, result));
            }
            stopped
        })
        .await;
    for (p, result) in stopped {
        let line = match result {
            Ok(()) => format!(
                "stopped process pid {} ({}) that no record knew: left by an interrupted start or stop",
                p.pid, p.instance
            ),
            Err(e) => format!(
                "stopping unrecorded process pid {} ({}): {e}",
                p.pid, p.instance
            ),
        };
        driver.record(Level::Warn, &p.blueprint, &line, None).await;
    }
}

/// Forwards the new output lines of the instances `names`; answers those that sent lines: one
/// read takes at most 64 KiB, so more may wait behind it.
fn forward_named(driver: &Driver<ProcessReconciler>, names: &BTreeSet<String>) -> BTreeSet<String> {
    let output = &driver.reconciler().output;
    let recorder = driver.recorder().as_ref();
    let mut sent = BTreeSet::new();
    for name in names {
        let Some(blueprint) = watch::blueprint_of(name) else {
            continue;
        };
        match output.forward(recorder, blueprint, name) {
            Ok(0) => {}
            Ok(_) => {
                sent.insert(name.clone());
            }
            Err(e) => {
                tracing::debug!(error = %e, instance = %name, "forwarding process output failed")
            }
        }
    }
    sent
}

/// Forwards the new output lines of every recorded instance; answers those that sent lines.
fn forward_recorded(driver: &Driver<ProcessReconciler>) -> BTreeSet<String> {
    match driver.reconciler().table().all() {
        Ok(all) => forward_named(driver, &all.iter().map(|i| i.name()).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "reading the instance table to forward output failed");
            BTreeSet::new()
        }
    }
}

/// Converges everything once at start (re-adopting live pids, restarting dead ones, stopping
/// orphans), retrying with backoff until the colony answers.
async fn adopt(driver: &Driver<ProcessReconciler>, shutdown: &CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let live: Vec<String> = driver
            .reconciler()
            .table()
            .all()
            .unwrap_or_default()
            .into_iter()
            .filter(is_alive)
            .map(|i| format!("{} (pid {})", i.name(), i.pid))
            .collect();
        match driver.reconcile_all(None, None).await {
            Ok(_) => {
                let message = format!(
                    "startup convergence done; adopted {} running instance(s): {}",
                    live.len(),
                    live.join(", ")
                );
                driver.record(Level::Info, "", &message, None).await;
                return;
            }
            // The colony did not answer: nothing was compared yet.
            Err(e @ crate::Error::Colony(_)) => {
                tracing::warn!(error = %e, "initial convergence failed; retrying")
            }
            // Per-blueprint failures are logged and retried by the liveness check and the colony.
            Err(e) => {
                tracing::warn!(error = %e, "initial convergence incomplete");
                return;
            }
        }
        if backoff.wait(shutdown).await {
            return;
        }
    }
}
