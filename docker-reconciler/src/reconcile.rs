//! `DockerDeployment` and `ExecutorDeployment` as a [`Reconciler`]: desired = the containers a
//! spec derives, observed = the managed containers of the blueprint, steps = [`Action`]s.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use colony::model::Blueprint;
use reconciler::{Error, Judgement, Outcome, Reconciler, Status};
use tokio_util::sync::CancellationToken;

use crate::converge::apply;
use crate::labels;
use crate::plan::{Action, RemoveReason, plan};
use crate::runtime::{ContainerRuntime, ObservedContainer};
use crate::spec::{DOCKER_DEPLOYMENT, DesiredContainer, EXECUTOR_DEPLOYMENT, desired_containers};
use crate::status::build_status;
use crate::verdict::Counts;

/// Kinds this reconciler handles.
pub const KINDS: [&str; 2] = [DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT];

/// What a reconciler works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Colony name (also the `colonies.colony` label).
    pub colony: String,
    /// Network mode of containers whose spec sets none (`host` on these machines).
    pub default_network_mode: String,
}

/// The Docker reconciler.
#[derive(Debug, Clone)]
pub struct DockerReconciler {
    runtime: Arc<dyn ContainerRuntime>,
    settings: Settings,
    /// Failed health checks in a row per blueprint ([`crate::verdict`]).
    counts: Arc<Counts>,
    /// The agent's stop: ends a wait for a new container's health.
    stopping: CancellationToken,
}

impl DockerReconciler {
    /// A reconciler converging through `runtime`, whose waits for a new container's health end
    /// when `stopping` is cancelled.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        settings: Settings,
        stopping: CancellationToken,
    ) -> Self {
        Self {
            runtime,
            settings,
            counts: Arc::default(),
            stopping,
        }
    }

    /// The container runtime.
    pub fn runtime(&self) -> &Arc<dyn ContainerRuntime> {
        &self.runtime
    }
}

/// Containers labelled with a kind this reconciler does not handle are never touched.
fn is_ours(o: &ObservedContainer) -> bool {
    let kind = o.label(labels::KIND);
    kind.is_empty() || KINDS.contains(&kind)
}

fn runtime_error(e: crate::RuntimeError) -> Error {
    Error::Runtime(e.to_string())
}

#[async_trait]
impl Reconciler for DockerReconciler {
    type Desired = Vec<DesiredContainer>;
    type Observed = Vec<ObservedContainer>;
    type Action = Action;

    fn kinds(&self) -> &'static [&'static str] {
        &KINDS
    }

    fn desired(&self, bp: &Blueprint) -> Result<Vec<DesiredContainer>, String> {
        let desired = desired_containers(
            bp,
            &self.settings.colony,
            &self.settings.default_network_mode,
        )?;
        self.counts.begin(bp);
        Ok(desired)
    }

    async fn observe(&self, name: &str) -> Result<Vec<ObservedContainer>, Error> {
        let mut list = self
            .runtime
            .list_managed(&self.settings.colony, Some(name))
            .await
            .map_err(runtime_error)?;
        list.retain(is_ours);
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    fn plan(
        &self,
        desired: Option<&Vec<DesiredContainer>>,
        observed: &Vec<ObservedContainer>,
    ) -> Vec<Action> {
        match desired {
            Some(d) => plan(d, observed),
            None => observed
                .iter()
                .map(|o| Action::Remove {
                    id: o.id.clone(),
                    name: o.name.clone(),
                    reason: RemoveReason::BlueprintGone,
                })
                .collect(),
        }
    }

    async fn apply(
        &self,
        name: &str,
        desired: Option<&Vec<DesiredContainer>>,
        observed: &Vec<ObservedContainer>,
        action: Action,
    ) -> Outcome {
        if desired.is_none() {
            self.counts.forget(name);
        }
        apply(&*self.runtime, observed, action, &self.stopping).await
    }

    fn status(
        &self,
        desired: Option<&Vec<DesiredContainer>>,
        observed: &Vec<ObservedContainer>,
    ) -> Status {
        build_status(desired.map_or(&[][..], Vec::as_slice), observed)
    }

    fn judge(
        &self,
        name: &str,
        desired: &Vec<DesiredContainer>,
        observed: &Vec<ObservedContainer>,
    ) -> Judgement {
        self.counts.judge(name, desired, observed)
    }

    /// Blueprints with managed containers of this colony; containers labelled with a kind this
    /// reconciler does not handle are not counted (and so never removed as orphans).
    async fn existing(&self) -> Result<BTreeSet<String>, Error> {
        let all = self
            .runtime
            .list_managed(&self.settings.colony, None)
            .await
            .map_err(runtime_error)?;
        Ok(all
            .iter()
            .filter(|o| is_ours(o))
            .map(|o| o.label(labels::BLUEPRINT).to_string())
            .filter(|b| !b.is_empty())
            .collect())
    }
}
