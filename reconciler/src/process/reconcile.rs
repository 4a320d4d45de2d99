//! `ProcessDeployment` as a [`Reconciler`]: desired = spec + generation, observed = the
//! instance table with liveness from `/proc`, steps = forget / adopt / stop / start, planned
//! round by round (see [`super::plan`]) so that changing `replicas` touches no running
//! instance and a new template is rolled out within the spec's `rollout` limits. Failed health
//! checks are counted across convergences, and a spec that keeps failing is fallen back from
//! (see [`crate::fallback`]). Instances that keep ending hold their blueprint's restarts back,
//! for every convergence (see [`super::crash_loop`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use colony::model::Blueprint;
use maestro_common::contract;
use serde_json::Map;
use tokio::sync::mpsc;

use super::crash_loop::{CrashLoop, CrashLoops, Ended, Trial, Wake};
use super::ends::Ends;
use super::output::OutputForwarder;
use super::plan::{Observed, plan};
use super::runtime::{ProcessRuntime, is_alive};
use super::spec::{KIND, ProcessSpec};
use super::table::{Instance, InstanceTable};
use crate::fallback::{self, Count, Key};
use crate::{Error, InstanceStatus, Judgement, Outcome, Reconciler, Status};

/// What a `ProcessDeployment` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDesired {
    /// The blueprint's name.
    pub name: String,
    /// The validated spec.
    pub spec: ProcessSpec,
    /// The blueprint generation instances must run.
    pub generation: i64,
    /// [`ProcessSpec::template`] of the spec.
    pub template: String,
    /// The blueprint's intent generation (`maestro.io/intent-generation`).
    pub intent_generation: u64,
    /// Failed health checks in a row after which it falls back (`maestro.io/fall-back-after`).
    pub fall_back_after: u32,
    /// Whether it has fallen back from this spec (see [`crate::fallback`]): what runs is kept
    /// as it is and nothing of this spec starts while an instance of an earlier spec serves.
    pub fallen_back: bool,
}

impl ProcessDesired {
    /// The key its failed health checks are counted under.
    pub fn key(&self) -> Key {
        Key {
            intent_generation: self.intent_generation,
            generation: self.generation,
        }
    }

    /// Whether `i` runs what this asks for: its template (or, for an instance recorded without
    /// one, its generation).
    pub fn is_current(&self, i: &Instance) -> bool {
        if i.template.is_empty() {
            i.generation == self.generation
        } else {
            i.template == self.template
        }
    }
}

/// One recorded instance and whether it is still alive (and still ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    /// The table row.
    pub instance: Instance,
    /// Alive per `/proc`.
    pub alive: bool,
    /// The blueprint's health check on it: `None` without one (or when not alive).
    pub healthy: Option<bool>,
    /// Why the check failed, when it did.
    pub check_error: Option<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Drop a dead instance from the table.
    Forget(Instance),
    /// Record a current instance at the desired generation.
    Adopt(Instance),
    /// Stop a live instance (older generation, duplicate, beyond `replicas`, or unwanted).
    Stop(Instance),
    /// Start instance slot `index`.
    Start(u32),
}

/// The process reconciler.
#[derive(Debug)]
pub struct ProcessReconciler {
    table: InstanceTable,
    runtime: ProcessRuntime,
    pub(super) output: OutputForwarder,
    pub(super) grace: Duration,
    /// Each blueprint's health check, as its last `desired` read it, for `observe`.
    checks: Mutex<HashMap<String, super::health::HealthCheck>>,
    /// Per blueprint, its failed health checks at its desired spec ([`crate::fallback`]). Kept
    /// in memory: a restarted agent goes on from the verdict the blueprint's last status
    /// records for the same desired blueprint, so a fall-back outlives a restart.
    pub(super) counts: Mutex<HashMap<String, Count>>,
    /// Per blueprint, the health check of the instances the convergence in progress started
    /// (the first failure, else a pass).
    pub(super) started: Mutex<HashMap<String, Result<(), String>>>,
    /// Per blueprint, its instances' ends in a row: a restart is held back until it is due,
    /// whoever asked for the convergence ([`super::crash_loop`]).
    pub(super) crash_loops: Mutex<CrashLoops>,
    /// Convergences for the self-healing loop to run: at once after a start that failed its
    /// health check, or when a held-back restart is due.
    pub(super) wakes: mpsc::UnboundedSender<Wake>,
    /// Ends of instances that a convergence forgot or whose exit was reported, waiting for the
    /// other: the second says the end with how the process ended ([`super::ends`]).
    pub(super) ends: Ends,
}

/// `m` locked, even when a panic poisoned it (the maps stay consistent step by step).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProcessReconciler {
    /// A reconciler over `table`, starting processes through `runtime`; convergences to run
    /// after a failed start, or when a held-back restart is due, are sent on `wakes`.
    pub fn new(
        table: InstanceTable,
        runtime: ProcessRuntime,
        output: OutputForwarder,
        grace: Duration,
        wakes: mpsc::UnboundedSender<Wake>,
    ) -> Self {
        Self {
            table,
            runtime,
            output,
            grace,
            checks: Mutex::default(),
            counts: Mutex::default(),
            started: Mutex::default(),
            crash_loops: Mutex::default(),
            wakes,
            ends: Ends::default(),
        }
    }

    /// The instance table.
    pub fn table(&self) -> &InstanceTable {
        &self.table
    }

    /// The runtime.
    pub fn runtime(&self) -> &ProcessRuntime {
        &self.runtime
    }

    /// Whether the starts of `d`'s spec are held back now by its crash loop.
    pub(super) fn held(&self, d: &ProcessDesired) -> Option<CrashLoop> {
        lock(&self.crash_loops).held(&d.name, &d.template, tokio::time::Instant::now())
    }

    /// The crash loop `d`'s spec is in, its next restart due or not.
    pub(super) fn looping(&self, d: &ProcessDesired) -> Option<CrashLoop> {
        lock(&self.crash_loops).looping(&d.name, &d.template)
    }

    /// Where `o` stands in the crash loop `looping` of `d`'s spec: `None` when it is not a live
    /// instance of that spec or there is no loop.
    pub(super) fn trial(
        looping: Option<&CrashLoop>,
        d: &ProcessDesired,
        o: &ObservedInstance,
        now: tokio::time::Instant,
    ) -> Option<Trial> {
        let looping = looping.filter(|_| o.alive && d.is_current(&o.instance))?;
        Some(looping.trial(maestro_common::time::age(o.instance.started_at_ms), now))
    }

    /// Which instances are on trial now in the crash loop of `desired`'s spec: started since
    /// the loop's last end, one is not ready until it has run [`super::crash_loop::STABLE_RUN`].
    fn on_trial<'a>(
        &self,
        desired: Option<&'a ProcessDesired>,
    ) -> impl Fn(&ObservedInstance) -> bool + 'a {
        let looping = desired.and_then(|d| self.looping(d));
        let now = tokio::time::Instant::now();
        move |o| {
            desired.is_some_and(|d| {
                matches!(
                    Self::trial(looping.as_ref(), d, o, now),
                    Some(Trial::On { .. })
                )
            })
        }
    }

    /// Counts the end of `ended` towards its blueprint's crash loop; returns how long its next
    /// start waits.
    pub(super) fn count_end(&self, ended: &Ended) -> Duration {
        lock(&self.crash_loops).ended(ended, tokio::time::Instant::now())
    }
}

/// Pure: the steps for `observed` towards `desired` (everything removed when `None`).
/// `on_trial` says which live instances of the desired spec are restarts of a crash loop on
/// trial: not ready, so the instances they are to replace keep running.
pub fn steps(
    desired: Option<&ProcessDesired>,
    observed: &[ObservedInstance],
    on_trial: &dyn Fn(&ObservedInstance) -> bool,
) -> Vec<Step> {
    let Some(d) = desired else {
        return observed
            .iter()
            .map(|o| {
                if o.alive {
                    Step::Stop(o.instance.clone())
                } else {
                    Step::Forget(o.instance.clone())
                }
            })
            .collect();
    };
    if d.fallen_back
        && observed
            .iter()
            .any(|o| o.alive && !d.is_current(&o.instance))
    {
        // Fallen back: what runs is kept as it is, and nothing of this spec starts.
        return observed
            .iter()
            .filter(|o| !o.alive)
            .map(|o| Step::Forget(o.instance.clone()))
            .collect();
    }
    let view: Vec<Observed> = observed
        .iter()
        .map(|o| Observed {
            pid: o.instance.pid,
            index: o.instance.index,
            current: d.is_current(&o.instance),
            at_generation: o.instance.generation == d.generation,
            alive: o.alive,
            ready: o.alive && o.healthy != Some(false) && !on_trial(o),
        })
        .collect();
    let p = plan(d.spec.replicas, d.spec.rollout, &view);
    let row = |pid: &u32| observed.iter().find(|o| o.instance.pid == *pid);
    let mut out: Vec<Step> = Vec::new();
    out.extend(
        p.forget
            .iter()
            .filter_map(row)
            .map(|o| Step::Forget(o.instance.clone())),
    );
    out.extend(
        p.adopt
            .iter()
            .filter_map(row)
            .map(|o| Step::Adopt(o.instance.clone())),
    );
    out.extend(
        p.stop
            .iter()
            .filter_map(row)
            .map(|o| Step::Stop(o.instance.clone())),
    );
    out.extend(p.start.into_iter().map(Step::Start));
    out
}

#[async_trait]
impl Reconciler for ProcessReconciler {
    type Desired = ProcessDesired;
    type Observed = Vec<ObservedInstance>;
    type Action = Step;

    fn kinds(&self) -> &'static [&'static str] {
        &[KIND]
    }

    fn desired(&self, bp: &Blueprint) -> Result<ProcessDesired, String> {
        let spec = ProcessSpec::from_json(&bp.spec)?;
        let name = &bp.metadata.name;
        let annotations = &bp.metadata.annotations;
        let key = Key::of(bp);
        // A new convergence: the count goes on (or starts afresh for a changed blueprint).
        let fallen_back = {
            let mut counts = lock(&self.counts);
            let count = fallback::resume(counts.get(name), key, &bp.status);
            let fallen_back = count.fell_back();
            counts.insert(name.clone(), count);
            fallen_back
        };
        lock(&self.started).remove(name);
        {
            let mut checks = lock(&self.checks);
            // The check of a spec fallen back from says nothing about the instances kept.
            match &spec.health {
                Some(h) if !fallen_back => checks.insert(name.clone(), h.clone()),
                _ => checks.remove(name),
            };
        }
        Ok(ProcessDesired {
            name: name.clone(),
            template: spec.template(),
            spec,
            generation: bp.metadata.generation,
            intent_generation: key.intent_generation,
            fall_back_after: contract::fall_back_after(annotations),
            fallen_back,
        })
    }

    async fn observe(&self, name: &str) -> Result<Vec<ObservedInstance>, Error> {
        let mut rows = self.table.of_blueprint(name)?;
        rows.sort_by_key(|i| (i.index, i.pid));
        let check = lock(&self.checks).get(name).cloned();
        // The check probes the blueprint's own port, path or program, not one instance: one
        // probe per observation tells for every live instance.
        let alive: Vec<bool> = rows.iter().map(is_alive).collect();
        let probe = match &check {
            Some(c) if alive.contains(&true) => Some(c.check().await),
            _ => None,
        };
        Ok(rows
            .into_iter()
            .zip(alive)
            .map(|(instance, alive)| {
                let probe = probe.as_ref().filter(|_| alive);
                ObservedInstance {
                    alive,
                    healthy: probe.map(Result::is_ok),
                    check_error: probe.and_then(|p| p.as_ref().err().cloned()),
                    instance,
                }
            })
            .collect())
    }

    fn plan(
        &self,
        desired: Option<&ProcessDesired>,
        observed: &Vec<ObservedInstance>,
    ) -> Vec<Step> {
        let mut planned = steps(desired, observed, &self.on_trial(desired));
        // A restart held back is not planned, whoever asked for this convergence.
        if desired.is_some_and(|d| self.held(d).is_some()) {
            planned.retain(|s| !matches!(s, Step::Start(_)));
        }
        planned
    }

    async fn apply(
        &self,
        name: &str,
        desired: Option<&ProcessDesired>,
        _observed: &Vec<ObservedInstance>,
        step: Step,
    ) -> Outcome {
        if desired.is_none() {
            // The blueprint is gone: so are its counts.
            lock(&self.counts).remove(name);
            lock(&self.crash_loops).forget(name);
        }
        match step {
            Step::Forget(i) => {
                if let Err(e) = self.table.remove(name, i.pid) {
                    return Outcome::failed(format!("forgetting {}: {e}", i.name()));
                }
                let gone = match self.ends.forgot(i.pid) {
                    Some(how) => format!("instance {} (pid {}) is gone ({how})", i.name(), i.pid),
                    None => format!("instance {} (pid {}) is gone", i.name(), i.pid),
                };
                match desired {
                    Some(d) if d.fallen_back => Outcome::done(gone),
                    // An instance of the spec ended: one more in its crash loop, if it is one.
                    Some(d) if d.is_current(&i) => match self.count_end(&Ended::instance(&i)) {
                        Duration::ZERO => Outcome::done(format!("{gone}; replacing it")),
                        wait => Outcome::done(format!(
                            "{gone}; replacing it after {wait:?} (crash-loop back-off)"
                        )),
                    },
                    Some(_) => Outcome::done(format!("{gone}; replacing it")),
                    None => Outcome::done(format!(
                        "forgot exited instance {} (pid {})",
                        i.name(),
                        i.pid
                    )),
                }
            }
            Step::Adopt(i) => {
                let Some(d) = desired else {
                    return Outcome::failed(format!("adopting {}: nothing desired", i.name()));
                };
                let adopted = Instance {
                    generation: d.generation,
                    template: d.template.clone(),
                    ..i.clone()
                };
                match self.table.insert(&adopted).await {
                    Ok(()) => Outcome::done(format!(
                        "kept instance {} (pid {}) at generation {}: what it runs did not change",
                        i.name(),
                        i.pid,
                        d.generation
                    )),
                    Err(e) => Outcome::failed(format!("recording {}: {e}", i.name())),
                }
            }
            Step::Stop(i) => {
                // Forget first: the exit this causes must not look like a crash.
                self.ends.stopping(i.pid);
                if let Err(e) = self.table.remove(name, i.pid) {
                    return Outcome::failed(format!("forgetting {}: {e}", i.name()));
                }
                match self.runtime.stop(&i, self.grace).await {
                    Ok(()) => Outcome::done(format!(
                        "stopped instance {} (pid {}, generation {})",
                        i.name(),
                        i.pid,
                        i.generation
                    )),
                    Err(e) => {
                        Outcome::failed(format!("stopping {} (pid {}): {e}", i.name(), i.pid))
                    }
                }
            }
            Step::Start(index) => {
                let Some(d) = desired else {
                    return Outcome::failed(format!("starting instance {index}: nothing desired"));
                };
                if self.held(d).is_some() {
                    // Held back by an end counted in this round: the status says until when.
                    return Outcome::default();
                }
                self.start(name, d, index).await
            }
        }
    }

    fn status(&self, desired: Option<&ProcessDesired>, observed: &Vec<ObservedInstance>) -> Status {
        let on_trial = self.on_trial(desired);
        let current = |o: &ObservedInstance| {
            o.alive
                && o.healthy != Some(false)
                && desired.is_none_or(|d| d.is_current(&o.instance) && !on_trial(o))
        };
        Status {
            instances: observed
                .iter()
                .map(|o| InstanceStatus {
                    name: o.instance.name(),
                    id: o.instance.pid.to_string(),
                    instance_type: "process",
                    state: match (o.alive, o.healthy) {
                        (false, _) => "exited",
                        (true, Some(false)) => "unhealthy",
                        // A restart of a crash loop, not ready until it has run long enough.
                        (true, _) if on_trial(o) => "starting",
                        (true, _) => "running",
                    }
                    .to_string(),
                    generation: Some(o.instance.generation),
                    extra: o
                        .healthy
                        .map(|h| {
                            Map::from_iter([("healthy".to_string(), serde_json::Value::Bool(h))])
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            running: u32::try_from(observed.iter().filter(|o| current(o)).count())
                .unwrap_or(u32::MAX),
            total: desired.map_or(0, |d| d.spec.replicas),
        }
    }

    fn judge(
        &self,
        name: &str,
        desired: &ProcessDesired,
        observed: &Vec<ObservedInstance>,
    ) -> Judgement {
        self.judge_health(name, desired, observed)
    }

    async fn existing(&self) -> Result<BTreeSet<String>, Error> {
        Ok(self.table.all()?.into_iter().map(|i| i.blueprint).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, index: u32, generation: i64, alive: bool) -> ObservedInstance {
        ObservedInstance {
            instance: Instance {
                blueprint: "web".into(),
                index,
                pid,
                generation,
                template: String::new(),
                started_at_ms: 0,
                start_ticks: None,
            },
            alive,
            healthy: None,
            check_error: None,
        }
    }

    fn desired(replicas: u32, generation: i64) -> ProcessDesired {
        let spec = ProcessSpec::from_json(
            &serde_json::json!({"command": "/bin/true", "replicas": replicas}),
        )
        .unwrap();
        ProcessDesired {
            name: "web".into(),
            template: spec.template(),
            spec,
            generation,
            intent_generation: 1,
            fall_back_after: 3,
            fallen_back: false,
        }
    }

    #[test]
    fn scaling_up_keeps_running_instances() {
        let obs = vec![row(10, 0, 1, true), row(11, 1, 1, true)];
        assert_eq!(
            steps(Some(&desired(3, 1)), &obs, &|_| false),
            vec![Step::Start(2)]
        );
    }

    #[test]
    fn no_desired_state_removes_everything_observed() {
        let obs = vec![row(10, 0, 1, true), row(11, 1, 1, false)];
        assert_eq!(
            steps(None, &obs, &|_| false),
            vec![
                Step::Stop(obs[0].instance.clone()),
                Step::Forget(obs[1].instance.clone())
            ]
        );
    }

    #[test]
    fn fallen_back_keeps_what_runs_while_an_earlier_instance_serves() {
        // Slot 0 runs the earlier spec (generation 1, another template); slot 1 is dead.
        let mut old = row(10, 0, 1, true);
        old.instance.template = "earlier".into();
        let obs = vec![old, row(11, 1, 2, false)];
        let back = ProcessDesired {
            fallen_back: true,
            ..desired(2, 2)
        };
        assert_eq!(
            steps(Some(&back), &obs, &|_| false),
            vec![Step::Forget(obs[1].instance.clone())],
            "nothing of the spec fallen back from starts, the earlier instance is kept"
        );
        // Not fallen back: the earlier instance is replaced as usual.
        assert_eq!(
            steps(Some(&desired(2, 2)), &obs, &|_| false),
            vec![
                Step::Forget(obs[1].instance.clone()),
                Step::Start(0),
                Step::Start(1)
            ]
        );
        // Nothing of the earlier spec left: nothing to fall back to, the spec is tried again.
        let dead = vec![row(10, 0, 1, false)];
        assert_eq!(
            steps(
                Some(&ProcessDesired {
                    fallen_back: true,
                    ..desired(1, 2)
                }),
                &dead,
                &|_| false
            ),
            vec![Step::Forget(dead[0].instance.clone()), Step::Start(0)]
        );
    }

    #[test]
    fn a_restart_on_trial_does_not_replace_the_instance_of_the_earlier_spec() {
        // Slot 0: the earlier spec's instance (generation 1) and the new spec's (generation 2).
        let mut old = row(10, 0, 1, true);
        old.instance.template = "earlier".into();
        let obs = vec![old, row(11, 0, 2, true)];
        let new_one = |o: &ObservedInstance| o.instance.pid == 11;
        assert_eq!(
            steps(Some(&desired(1, 2)), &obs, &new_one),
            vec![],
            "on trial: the earlier instance keeps serving, and nothing else starts"
        );
        assert_eq!(
            steps(Some(&desired(1, 2)), &obs, &|_| false),
            vec![Step::Stop(obs[0].instance.clone())],
            "once ready, it replaces the earlier instance"
        );
    }

    #[test]
    fn a_dead_instance_is_forgotten_and_its_slot_restarted() {
        let obs = vec![row(10, 0, 2, false)];
        assert_eq!(
            steps(Some(&desired(1, 2)), &obs, &|_| false),
            vec![Step::Forget(obs[0].instance.clone()), Step::Start(0)]
        );
    }
}
