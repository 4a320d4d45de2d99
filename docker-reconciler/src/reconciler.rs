//! The reconciler: colony I/O around convergence. Fetches blueprints, converges them through the
//! runtime, writes their status, adds process logs. One operation runs at a time.

use std::collections::BTreeSet;
use std::sync::Arc;

use colony::model::{Blueprint, Process};
use colony::{ColonyClient, PrivateKey};
use serde_json::Value;
use tracing::Instrument;

use crate::converge::{Outcome, converge_blueprint, remove_blueprint_containers, remove_orphans};
use crate::error::Error;
use crate::runtime::ContainerRuntime;
use crate::spec::{DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT};

/// Kinds this reconciler handles.
pub const KINDS: [&str; 2] = [DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT];

/// What a reconciler works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Colony name (also the `colonies.colony` label).
    pub colony: String,
    /// Only blueprints of this location (or of none) are converged; None for all.
    pub location: Option<String>,
    /// Network mode of containers whose spec sets none (`host` on these machines).
    pub default_network_mode: String,
}

/// The Docker reconciler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DockerReconciler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: ColonyClient,
    key: PrivateKey,
    settings: Settings,
    runtime: Arc<dyn ContainerRuntime>,
    lock: tokio::sync::Mutex<()>,
}

/// Log lines of what an operation did.
pub type Actions = Vec<String>;

impl DockerReconciler {
    /// A reconciler acting as the executor whose key is `key`.
    pub fn new(
        client: ColonyClient,
        key: PrivateKey,
        runtime: Arc<dyn ContainerRuntime>,
        settings: Settings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                key,
                settings,
                runtime,
                lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The container runtime.
    pub fn runtime(&self) -> &Arc<dyn ContainerRuntime> {
        &self.inner.runtime
    }

    /// The executor key.
    pub fn key(&self) -> &PrivateKey {
        &self.inner.key
    }

    /// The colony client.
    pub fn client(&self) -> &ColonyClient {
        &self.inner.client
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Runs one assigned process: `reconcile` (kwargs `kind`, optional `blueprintName`) or
    /// `cleanup` (kwargs `blueprintName`, `kind`). Returns what was done, or the failure.
    pub async fn handle(&self, process: &Process) -> Result<Actions, Error> {
        let spec = &process.spec;
        let pid = Some(process.process_id.as_str());
        let kind = spec.kwarg_str("kind").filter(|k| !k.is_empty());
        if let Some(k) = kind
            && !KINDS.contains(&k)
        {
            return Err(Error::Unsupported(format!(
                "kind {k} is not handled by the docker reconciler"
            )));
        }
        let name = spec.kwarg_str("blueprintName").filter(|n| !n.is_empty());
        match (spec.func_name.as_str(), name) {
            ("reconcile", Some(name)) => self.reconcile_named(name, pid).await,
            ("reconcile", None) => self.reconcile_kind(kind, pid).await,
            ("cleanup", Some(name)) => self.cleanup(name, pid).await,
            ("cleanup", None) => Err(Error::Unsupported(
                "cleanup needs kwargs.blueprintName".into(),
            )),
            (other, _) => Err(Error::Unsupported(format!("unknown function {other:?}"))),
        }
    }

    /// Converges the blueprint `name` (fetched from the colony); removes its containers when it
    /// no longer exists.
    pub async fn reconcile_named(
        &self,
        name: &str,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let _guard = self.inner.lock.lock().await;
        self.reconcile_named_locked(name, process).await
    }

    async fn reconcile_named_locked(
        &self,
        name: &str,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let inner = &self.inner;
        let bp = inner
            .client
            .get_blueprint(&inner.key, &inner.settings.colony, name)
            .await?;
        match bp {
            Some(bp) if KINDS.contains(&bp.kind.as_str()) => {
                if !self.is_mine(&bp) {
                    return Ok(vec![format!(
                        "blueprint {name} belongs to location {}",
                        bp.metadata.location_name
                    )]);
                }
                self.converge_one(&bp, process).await
            }
            Some(bp) => Err(Error::Unsupported(format!(
                "blueprint {name} is a {}, not a kind the docker reconciler handles",
                bp.kind
            ))),
            None => {
                let out =
                    remove_blueprint_containers(&*inner.runtime, &inner.settings.colony, name)
                        .await?;
                self.finish(name, out, process).await
            }
        }
    }

    /// Converges every blueprint of `kind` (both kinds when None) and removes orphans: managed
    /// containers of this colony whose blueprint no longer exists (the self-healing run).
    pub async fn reconcile_kind(
        &self,
        kind: Option<&str>,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let _guard = self.inner.lock.lock().await;
        let inner = &self.inner;
        let mut known = BTreeSet::new();
        let mut todo: Vec<Blueprint> = Vec::new();
        for k in KINDS {
            let list = inner
                .client
                .get_blueprints(&inner.key, &inner.settings.colony, Some(k), None)
                .await?;
            for bp in list.into_iter().filter(|b| b.kind == k && self.is_mine(b)) {
                known.insert(bp.metadata.name.clone());
                if kind.is_none_or(|want| want == k) {
                    todo.push(bp);
                }
            }
        }
        let mut actions = Vec::new();
        let mut errors = Vec::new();
        for bp in &todo {
            match self.converge_one(bp, process).await {
                Ok(a) => actions.extend(a),
                Err(e) => errors.push(format!("{}: {e}", bp.metadata.name)),
            }
        }
        let orphans = remove_orphans(&*inner.runtime, &inner.settings.colony, &known).await?;
        match self.finish("", orphans, process).await {
            Ok(a) => actions.extend(a),
            Err(e) => errors.push(format!("orphans: {e}")),
        }
        if errors.is_empty() {
            Ok(actions)
        } else {
            Err(Error::Failed(errors.join("; ")))
        }
    }

    /// Removes every container of blueprint `name`. When a blueprint of that name exists again
    /// (removed and re-added), it is converged afterwards.
    pub async fn cleanup(&self, name: &str, process: Option<&str>) -> Result<Actions, Error> {
        let _guard = self.inner.lock.lock().await;
        let inner = &self.inner;
        let out =
            remove_blueprint_containers(&*inner.runtime, &inner.settings.colony, name).await?;
        let mut actions = self.finish(name, out, process).await?;
        let again = inner
            .client
            .get_blueprint(&inner.key, &inner.settings.colony, name)
            .await?;
        if again.is_some_and(|bp| KINDS.contains(&bp.kind.as_str())) {
            actions.extend(self.reconcile_named_locked(name, process).await?);
        }
        Ok(actions)
    }

    fn is_mine(&self, bp: &Blueprint) -> bool {
        match &self.inner.settings.location {
            None => true,
            Some(loc) => bp.metadata.location_name.is_empty() || &bp.metadata.location_name == loc,
        }
    }

    async fn converge_one(&self, bp: &Blueprint, process: Option<&str>) -> Result<Actions, Error> {
        let span = tracing::info_span!(
            "reconcile",
            blueprint = %bp.metadata.name,
            kind = %bp.kind,
            generation = bp.metadata.generation
        );
        self.converge_one_inner(bp, process).instrument(span).await
    }

    async fn converge_one_inner(
        &self,
        bp: &Blueprint,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let inner = &self.inner;
        let name = &bp.metadata.name;
        let mut out = converge_blueprint(
            &*inner.runtime,
            bp,
            &inner.settings.colony,
            &inner.settings.default_network_mode,
        )
        .await?;
        if let Some(status) = out.status.take() {
            self.write_status(name, status).await;
        }
        self.finish(name, out, process).await
    }

    /// Logs an outcome and turns its errors into the result.
    async fn finish(
        &self,
        blueprint: &str,
        out: Outcome,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        for line in &out.done {
            self.record(blueprint, false, line, process).await;
        }
        for line in &out.errors {
            self.record(blueprint, true, line, process).await;
        }
        if out.errors.is_empty() {
            Ok(out.done)
        } else {
            Err(Error::Failed(out.errors.join("; ")))
        }
    }

    async fn write_status(&self, name: &str, status: Value) {
        let inner = &self.inner;
        match inner
            .client
            .update_blueprint_status(&inner.key, &inner.settings.colony, name, status)
            .await
        {
            Ok(()) => {}
            // Removed meanwhile: its cleanup will follow.
            Err(e) if e.status() == Some(404) => {}
            Err(e) => {
                tracing::warn!(error = %e, blueprint = name, "writing blueprint status failed")
            }
        }
    }

    /// Logs a line with tracing and, inside a colony process, as a process log.
    async fn record(&self, blueprint: &str, error: bool, message: &str, process: Option<&str>) {
        if error {
            tracing::warn!(blueprint, "{message}");
        } else {
            tracing::info!(blueprint, "{message}");
        }
        let Some(pid) = process else { return };
        let line = if blueprint.is_empty() {
            message.to_string()
        } else {
            format!("{blueprint}: {message}")
        };
        if let Err(e) = self.inner.client.add_log(&self.inner.key, pid, &line).await {
            tracing::debug!(error = %e, "adding process log failed");
        }
    }
}
