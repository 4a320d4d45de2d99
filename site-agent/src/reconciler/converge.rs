//! Convergence of one blueprint, of every blueprint of the kind, and cleanup.

use std::collections::BTreeSet;

use colony::model::Blueprint;

use super::plan::{Observed, plan};
use super::runtime::is_alive;
use super::spec::{KIND, ProcessSpec};
use super::{ProcessReconciler, status};
use crate::Error;

/// What a convergence did, as log lines; `Err` when something failed.
pub type Actions = Vec<String>;

impl ProcessReconciler {
    /// Converges the blueprint `name` (fetched from the colony); stops its instances when it no
    /// longer exists.
    pub async fn converge_named(
        &self,
        name: &str,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let _guard = self.inner.lock.lock().await;
        let ctx = &self.inner.ctx;
        match ctx
            .client
            .get_blueprint(&ctx.keys.reconciler, &ctx.colony, name)
            .await?
        {
            Some(bp) if bp.kind == KIND => self.converge_locked(&bp, process).await,
            Some(bp) => Err(Error::Runtime(format!(
                "blueprint {name} is a {}, not a {KIND}",
                bp.kind
            ))),
            None => {
                self.stop_blueprint_locked(name, "blueprint no longer exists", process)
                    .await
            }
        }
    }

    /// Converges every `ProcessDeployment` of this site and stops orphans (instances whose
    /// blueprint is gone).
    pub async fn converge_all(&self, process: Option<&str>) -> Result<Actions, Error> {
        let _guard = self.inner.lock.lock().await;
        let ctx = &self.inner.ctx;
        let blueprints = ctx
            .client
            .get_blueprints(&ctx.keys.reconciler, &ctx.colony, Some(KIND), None)
            .await?;
        let mine: Vec<&Blueprint> = blueprints
            .iter()
            .filter(|b| {
                b.kind == KIND
                    && (b.metadata.location_name.is_empty() || b.metadata.location_name == ctx.site)
            })
            .collect();
        let mut actions = Vec::new();
        let mut errors = Vec::new();
        for bp in &mine {
            match self.converge_locked(bp, process).await {
                Ok(a) => actions.extend(a),
                Err(e) => errors.push(format!("{}: {e}", bp.metadata.name)),
            }
        }
        let names: BTreeSet<&str> = mine.iter().map(|b| b.metadata.name.as_str()).collect();
        let orphans: BTreeSet<String> = self
            .inner
            .table
            .all()?
            .into_iter()
            .map(|i| i.blueprint)
            .filter(|b| !names.contains(b.as_str()))
            .collect();
        for name in orphans {
            match self
                .stop_blueprint_locked(&name, "orphan: blueprint no longer exists", process)
                .await
            {
                Ok(a) => actions.extend(a),
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(actions)
        } else {
            Err(Error::Runtime(errors.join("; ")))
        }
    }

    /// Stops every instance of `name` (a `cleanup` process).
    pub async fn cleanup(&self, name: &str, process: Option<&str>) -> Result<Actions, Error> {
        let _guard = self.inner.lock.lock().await;
        self.stop_blueprint_locked(name, "cleanup", process).await
    }

    async fn converge_locked(
        &self,
        bp: &Blueprint,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let inner = &self.inner;
        let name = &bp.metadata.name;
        let generation = bp.metadata.generation;
        let rows = inner.table.of_blueprint(name)?;
        let spec = match ProcessSpec::from_json(&bp.spec) {
            Ok(s) => s,
            Err(reason) => {
                self.write_status(name, &rows, 0, generation, Some(&reason))
                    .await;
                self.record(name, "error", &format!("invalid spec: {reason}"), process)
                    .await;
                return Err(Error::Runtime(format!("invalid spec: {reason}")));
            }
        };
        let observed: Vec<Observed> = rows
            .iter()
            .map(|r| Observed {
                pid: r.pid,
                index: r.index,
                generation: r.generation,
                alive: is_alive(r),
            })
            .collect();
        let p = plan(generation, spec.replicas, &observed);
        let mut actions = Vec::new();
        let mut errors = Vec::new();
        for pid in &p.forget {
            if let Some(r) = rows.iter().find(|r| r.pid == *pid) {
                inner.table.remove(name, *pid)?;
                actions.push(format!(
                    "instance {} (pid {pid}) is gone; replacing it",
                    r.name()
                ));
            }
        }
        for pid in &p.stop {
            let Some(r) = rows.iter().find(|r| r.pid == *pid) else {
                continue;
            };
            // Forget first: the exit this causes must not look like a crash.
            inner.table.remove(name, *pid)?;
            match inner.runtime.stop(r, inner.grace).await {
                Ok(()) => actions.push(format!(
                    "stopped instance {} (pid {pid}, generation {})",
                    r.name(),
                    r.generation
                )),
                Err(e) => errors.push(format!("stopping {} (pid {pid}): {e}", r.name())),
            }
        }
        for index in &p.start {
            match inner.runtime.spawn(name, *index, generation, &spec).await {
                Ok(instance) => {
                    inner.table.insert(&instance).await?;
                    actions.push(format!(
                        "started instance {} (pid {}, generation {generation})",
                        instance.name(),
                        instance.pid
                    ));
                }
                Err(e) => errors.push(format!("starting instance {index}: {e}")),
            }
        }
        let rows = inner.table.of_blueprint(name)?;
        let message = (!errors.is_empty()).then(|| errors.join("; "));
        self.write_status(name, &rows, spec.replicas, generation, message.as_deref())
            .await;
        for a in &actions {
            self.record(name, "info", a, process).await;
        }
        for e in &errors {
            self.record(name, "error", e, process).await;
        }
        if !p.is_empty() {
            inner.ctx.poke_reporter();
        }
        match message {
            None => Ok(actions),
            Some(m) => Err(Error::Runtime(m)),
        }
    }

    async fn stop_blueprint_locked(
        &self,
        name: &str,
        why: &str,
        process: Option<&str>,
    ) -> Result<Actions, Error> {
        let inner = &self.inner;
        let mut actions = Vec::new();
        let mut errors = Vec::new();
        for r in inner.table.of_blueprint(name)? {
            inner.table.remove(name, r.pid)?;
            match inner.runtime.stop(&r, inner.grace).await {
                Ok(()) => actions.push(format!(
                    "stopped instance {} (pid {}): {why}",
                    r.name(),
                    r.pid
                )),
                Err(e) => errors.push(format!("stopping {} (pid {}): {e}", r.name(), r.pid)),
            }
        }
        for a in &actions {
            self.record(name, "info", a, process).await;
        }
        for e in &errors {
            self.record(name, "error", e, process).await;
        }
        if !actions.is_empty() {
            inner.ctx.poke_reporter();
        }
        if errors.is_empty() {
            Ok(actions)
        } else {
            Err(Error::Runtime(errors.join("; ")))
        }
    }

    async fn write_status(
        &self,
        name: &str,
        rows: &[super::table::Instance],
        replicas: u32,
        generation: i64,
        message: Option<&str>,
    ) {
        let ctx = &self.inner.ctx;
        let status = status::build(rows, replicas, generation, message);
        match ctx
            .client
            .update_blueprint_status(&ctx.keys.reconciler, &ctx.colony, name, status)
            .await
        {
            Ok(()) => ctx.poke_reporter(),
            Err(e) if e.status() == Some(404) => {}
            Err(e) => {
                tracing::warn!(error = %e, blueprint = name, "writing blueprint status failed")
            }
        }
    }

    /// Logs a line as a `log` record and, inside a colony process, as a process log.
    pub(super) async fn record(
        &self,
        blueprint: &str,
        level: &str,
        message: &str,
        process: Option<&str>,
    ) {
        let ctx = &self.inner.ctx;
        tracing::info!(blueprint, level, "{message}");
        ctx.outbox.log(
            level,
            blueprint,
            process.unwrap_or("process-reconciler"),
            message,
        );
        if let Some(pid) = process
            && let Err(e) = ctx
                .client
                .add_log(
                    &ctx.keys.reconciler,
                    pid,
                    &format!("{blueprint}: {message}"),
                )
                .await
        {
            tracing::debug!(error = %e, "adding process log failed");
        }
    }
}
