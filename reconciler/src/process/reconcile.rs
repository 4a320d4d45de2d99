//! `ProcessDeployment` as a [`Reconciler`]: desired = spec + generation, observed = the
//! instance table with liveness from `/proc`, steps = forget / adopt / stop / start, planned
//! round by round (see [`super::plan`]) so that changing `replicas` touches no running
//! instance and a new template is rolled out within the spec's `rollout` limits.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use colony::model::Blueprint;
use serde_json::Map;

use super::output::OutputForwarder;
use super::plan::{Observed, plan};
use super::runtime::{ProcessRuntime, is_alive};
use super::spec::{KIND, ProcessSpec};
use super::table::{Instance, InstanceTable};
use crate::{Error, InstanceStatus, Outcome, Reconciler, Status};

/// What a `ProcessDeployment` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDesired {
    /// The validated spec.
    pub spec: ProcessSpec,
    /// The blueprint generation instances must run.
    pub generation: i64,
    /// [`ProcessSpec::template`] of the spec.
    pub template: String,
}

impl ProcessDesired {
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
    grace: Duration,
    /// Each blueprint's health check, as its last `desired` read it, for `observe`.
    checks: std::sync::Mutex<std::collections::HashMap<String, super::health::HealthCheck>>,
}

impl ProcessReconciler {
    /// A reconciler over `table`, starting processes through `runtime`.
    pub fn new(
        table: InstanceTable,
        runtime: ProcessRuntime,
        output: OutputForwarder,
        grace: Duration,
    ) -> Self {
        Self {
            table,
            runtime,
            output,
            grace,
            checks: std::sync::Mutex::default(),
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

    /// Whether a just-started instance is still alive after `min_ready_ms` (at once when 0).
    async fn ready(&self, instance: &Instance, min_ready_ms: u64) -> bool {
        if min_ready_ms > 0 {
            tokio::time::sleep(Duration::from_millis(min_ready_ms)).await;
        }
        is_alive(instance)
    }
}

/// Pure: the steps for `observed` towards `desired` (everything removed when `None`).
pub fn steps(desired: Option<&ProcessDesired>, observed: &[ObservedInstance]) -> Vec<Step> {
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
    let view: Vec<Observed> = observed
        .iter()
        .map(|o| Observed {
            pid: o.instance.pid,
            index: o.instance.index,
            current: d.is_current(&o.instance),
            at_generation: o.instance.generation == d.generation,
            alive: o.alive,
            ready: o.alive && o.healthy != Some(false),
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
        {
            let mut checks = self
                .checks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &spec.health {
                Some(h) => checks.insert(bp.metadata.name.clone(), h.clone()),
                None => checks.remove(&bp.metadata.name),
            };
        }
        Ok(ProcessDesired {
            template: spec.template(),
            spec,
            generation: bp.metadata.generation,
        })
    }

    async fn observe(&self, name: &str) -> Result<Vec<ObservedInstance>, Error> {
        let mut rows = self.table.of_blueprint(name)?;
        rows.sort_by_key(|i| (i.index, i.pid));
        let check = self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned();
        // The check probes the blueprint's own port, path or program, not one instance: one
        // probe per observation tells for every live instance.
        let alive: Vec<bool> = rows.iter().map(is_alive).collect();
        let healthy = match &check {
            Some(c) if alive.contains(&true) => Some(c.check().await.is_ok()),
            _ => None,
        };
        Ok(rows
            .into_iter()
            .zip(alive)
            .map(|(instance, alive)| ObservedInstance {
                alive,
                healthy: healthy.filter(|_| alive),
                instance,
            })
            .collect())
    }

    fn plan(
        &self,
        desired: Option<&ProcessDesired>,
        observed: &Vec<ObservedInstance>,
    ) -> Vec<Step> {
        steps(desired, observed)
    }

    async fn apply(
        &self,
        name: &str,
        desired: Option<&ProcessDesired>,
        _observed: &Vec<ObservedInstance>,
        step: Step,
    ) -> Outcome {
        match step {
            Step::Forget(i) => match self.table.remove(name, i.pid) {
                Ok(_) if desired.is_some() => Outcome::done(format!(
                    "instance {} (pid {}) is gone; replacing it",
                    i.name(),
                    i.pid
                )),
                Ok(_) => Outcome::done(format!(
                    "forgot exited instance {} (pid {})",
                    i.name(),
                    i.pid
                )),
                Err(e) => Outcome::failed(format!("forgetting {}: {e}", i.name())),
            },
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
                match self.runtime.spawn(name, index, d.generation, &d.spec).await {
                    Ok(instance) => match self.table.insert(&instance).await {
                        Ok(()) if !self.ready(&instance, d.spec.rollout.min_ready_ms).await => {
                            Outcome::failed(format!(
                                "instance {} (pid {}) exited within minReadySeconds",
                                instance.name(),
                                instance.pid
                            ))
                        }
                        Ok(()) => match &d.spec.health {
                            Some(h) => match h.wait_healthy().await {
                                Ok(()) => Outcome::done(format!(
                                    "started instance {} (pid {}, generation {}); healthy",
                                    instance.name(),
                                    instance.pid,
                                    d.generation
                                )),
                                Err(e) => Outcome::failed(format!(
                                    "instance {} (pid {}, generation {}) did not pass its health \
                                     check within {}s: {e}; the instance it replaces keeps running",
                                    instance.name(),
                                    instance.pid,
                                    d.generation,
                                    h.start.as_secs()
                                )),
                            },
                            None => Outcome::done(format!(
                                "started instance {} (pid {}, generation {})",
                                instance.name(),
                                instance.pid,
                                d.generation
                            )),
                        },
                        Err(e) => Outcome::failed(format!("recording {}: {e}", instance.name())),
                    },
                    Err(e) => Outcome::failed(format!("starting instance {index}: {e}")),
                }
            }
        }
    }

    fn status(&self, desired: Option<&ProcessDesired>, observed: &Vec<ObservedInstance>) -> Status {
        let current = |o: &ObservedInstance| {
            o.alive && o.healthy != Some(false) && desired.is_none_or(|d| d.is_current(&o.instance))
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
        }
    }

    fn desired(replicas: u32, generation: i64) -> ProcessDesired {
        let spec = ProcessSpec::from_json(
            &serde_json::json!({"command": "/bin/true", "replicas": replicas}),
        )
        .unwrap();
        ProcessDesired {
            template: spec.template(),
            spec,
            generation,
        }
    }

    #[test]
    fn scaling_up_keeps_running_instances() {
        let obs = vec![row(10, 0, 1, true), row(11, 1, 1, true)];
        assert_eq!(steps(Some(&desired(3, 1)), &obs), vec![Step::Start(2)]);
    }

    #[test]
    fn no_desired_state_removes_everything_observed() {
        let obs = vec![row(10, 0, 1, true), row(11, 1, 1, false)];
        assert_eq!(
            steps(None, &obs),
            vec![
                Step::Stop(obs[0].instance.clone()),
                Step::Forget(obs[1].instance.clone())
            ]
        );
    }

    #[test]
    fn a_dead_instance_is_forgotten_and_its_slot_restarted() {
        let obs = vec![row(10, 0, 2, false)];
        assert_eq!(
            steps(Some(&desired(1, 2)), &obs),
            vec![Step::Forget(obs[0].instance.clone()), Step::Start(0)]
        );
    }
}
