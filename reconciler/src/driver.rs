//! The [`Driver`]: everything around a [`Reconciler`] that is the same for every kind — fetching
//! blueprints, the location filter, one convergence at a time, invalid specs, removal of what no
//! blueprint asks for, the blueprint status and the log lines.

use std::collections::BTreeSet;
use std::sync::Arc;

use colony::model::{Blueprint, Process};
use colony::{ColonyClient, PrivateKey};
use maestro_common::contract;
use tracing::Instrument;

use crate::Error;
use crate::host::{Level, Recorder};
use crate::reconcile::{Converged, Outcome, Reconciler, converge_blueprint, remove_blueprint};

/// Drives one reconciler against one colony. Cheap to clone.
pub struct Driver<R: Reconciler> {
    inner: Arc<Inner<R>>,
}

impl<R: Reconciler> Clone for Driver<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<R> {
    reconciler: R,
    client: ColonyClient,
    key: PrivateKey,
    colony: String,
    location: Option<String>,
    recorder: Arc<dyn Recorder>,
    source: String,
    lock: tokio::sync::Mutex<()>,
    /// Per blueprint, the order trace its last convergence joined: only the first convergence
    /// of each order's change joins that trace, not every periodic recheck.
    traced: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// What each blueprint's status last said.
    written: std::sync::Mutex<Written>,
}

/// Per blueprint, the status last written, without its times: a periodic recheck that finds
/// everything as it was rewrites the times but wakes no reader.
#[derive(Debug, Default)]
struct Written(std::collections::HashMap<String, serde_json::Value>);

impl Written {
    /// Records that `status` was written for blueprint `name`; whether it says something new
    /// (anything but its times differs from the last one written, or it is the first).
    fn says_new(&mut self, name: &str, status: &serde_json::Value) -> bool {
        let untimed = crate::status::without_times(status);
        self.0.insert(name.to_string(), untimed.clone()) != Some(untimed)
    }
}

/// `m` locked, also after a panic while it was held (its maps stay usable).
fn unpoisoned<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a driver works.
#[derive(Debug, Clone)]
pub struct Target {
    /// Client of the colony.
    pub client: ColonyClient,
    /// The executor's key.
    pub key: PrivateKey,
    /// Colony name.
    pub colony: String,
    /// Only blueprints of this location (or of none) are converged; `None` for all.
    pub location: Option<String>,
    /// Name used as the source of log lines outside a process (the executor name).
    pub source: String,
}

impl<R: Reconciler> Driver<R> {
    /// A driver of `reconciler` at `target`, logging to `recorder`.
    pub fn new(reconciler: R, target: Target, recorder: Arc<dyn Recorder>) -> Self {
        let Target {
            client,
            key,
            colony,
            location,
            source,
        } = target;
        Self {
            inner: Arc::new(Inner {
                reconciler,
                client,
                key,
                colony,
                location,
                recorder,
                source,
                lock: tokio::sync::Mutex::new(()),
                traced: std::sync::Mutex::default(),
                written: std::sync::Mutex::default(),
            }),
        }
    }

    /// The reconciler.
    pub fn reconciler(&self) -> &R {
        &self.inner.reconciler
    }

    /// Runs `f` while no convergence runs (every plan/apply step holds the same lock): what
    /// `f` sees of the reconciler's records is not in the middle of a step.
    pub async fn exclusive<T>(&self, f: impl AsyncFnOnce(&R) -> T) -> T {
        let _guard = self.inner.lock.lock().await;
        f(&self.inner.reconciler).await
    }

    /// The colony client.
    pub fn client(&self) -> &ColonyClient {
        &self.inner.client
    }

    /// The executor key.
    pub fn key(&self) -> &PrivateKey {
        &self.inner.key
    }

    /// The colony name.
    pub fn colony(&self) -> &str {
        &self.inner.colony
    }

    /// The recorder.
    pub fn recorder(&self) -> &Arc<dyn Recorder> {
        &self.inner.recorder
    }

    /// Runs one assigned process: `reconcile` (kwargs `kind`, optional `blueprintName`) or
    /// `cleanup` (kwargs `blueprintName`). Returns what was done, or the failure.
    pub async fn handle(&self, process: &Process) -> Result<Vec<String>, Error> {
        let spec = &process.spec;
        let pid = Some(process.process_id.as_str());
        let kind = spec.kwarg_str("kind").filter(|k| !k.is_empty());
        if let Some(k) = kind
            && !self.owns(k)
        {
            return Err(Error::Unsupported(format!(
                "kind {k} is not handled by {}",
                self.inner.source
            )));
        }
        let name = spec.kwarg_str("blueprintName").filter(|n| !n.is_empty());
        if let Some(n) = name {
            // A process's kwargs come from whoever submitted it: the name keys stores and labels.
            maestro_common::names::validate_name("kwargs.blueprintName", n)
                .map_err(|e| Error::Unsupported(e.to_string()))?;
        }
        match (spec.func_name.as_str(), name) {
            ("reconcile", Some(name)) => self.reconcile_named(name, pid).await,
            ("reconcile", None) => self.reconcile_all(kind, pid).await,
            ("cleanup", Some(name)) => self.cleanup(name, pid).await,
            ("cleanup", None) => Err(Error::Unsupported(
                "cleanup needs kwargs.blueprintName".into(),
            )),
            (other, _) => Err(Error::Unsupported(format!("unknown function {other:?}"))),
        }
    }

    /// Converges the blueprint `name` (fetched from the colony); removes what runs for it when
    /// it no longer exists.
    pub async fn reconcile_named(
        &self,
        name: &str,
        process: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let _guard = self.inner.lock.lock().await;
        self.reconcile_named_locked(name, process).await
    }

    /// Converges every blueprint of its kinds (only `kind` when given) at its location and
    /// removes orphans: what exists for blueprints that are gone (the self-healing run).
    pub async fn reconcile_all(
        &self,
        kind: Option<&str>,
        process: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let _guard = self.inner.lock.lock().await;
        let inner = &self.inner;
        let mut known = BTreeSet::new();
        let mut todo: Vec<Blueprint> = Vec::new();
        for &k in inner.reconciler.kinds() {
            let list = inner
                .client
                .get_blueprints(&inner.key, &inner.colony, Some(k), None)
                .await?;
            for bp in list.into_iter().filter(|b| b.kind == k && self.is_mine(b)) {
                known.insert(bp.metadata.name.clone());
                if kind.is_none_or(|want| want == k) {
                    todo.push(bp);
                }
            }
        }
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for bp in &todo {
            match self.converge_locked(bp, process).await {
                Ok(a) => done.extend(a),
                Err(e) => errors.push(format!("{}: {e}", bp.metadata.name)),
            }
        }
        let orphans: Vec<String> = inner
            .reconciler
            .existing()
            .await?
            .into_iter()
            .filter(|n| !known.contains(n))
            .collect();
        for name in orphans {
            match self.remove_locked(&name, process).await {
                Ok(a) => done.extend(a),
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(done)
        } else {
            Err(Error::Failed(errors.join("; ")))
        }
    }

    /// Removes what runs for the blueprint `name`; when a blueprint of that name exists again
    /// (removed and re-added), it is converged afterwards.
    pub async fn cleanup(&self, name: &str, process: Option<&str>) -> Result<Vec<String>, Error> {
        let _guard = self.inner.lock.lock().await;
        let mut done = self.remove_locked(name, process).await?;
        let inner = &self.inner;
        let again = inner
            .client
            .get_blueprint(&inner.key, &inner.colony, name)
            .await?;
        if again.is_some_and(|bp| self.owns(&bp.kind)) {
            done.extend(self.reconcile_named_locked(name, process).await?);
        }
        Ok(done)
    }

    /// Logs a line through the recorder and, inside a colony process, as a process log.
    pub async fn record(
        &self,
        level: Level,
        blueprint: &str,
        message: &str,
        process: Option<&str>,
    ) {
        let inner = &self.inner;
        match level {
            Level::Info => tracing::info!(blueprint, "{message}"),
            Level::Warn | Level::Error => tracing::warn!(blueprint, "{message}"),
        }
        inner
            .recorder
            .log(level, blueprint, process.unwrap_or(&inner.source), message);
        let Some(pid) = process else { return };
        let line = if blueprint.is_empty() {
            message.to_string()
        } else {
            format!("{blueprint}: {message}")
        };
        if let Err(e) = inner.client.add_log(&inner.key, pid, &line).await {
            tracing::debug!(error = %e, "adding process log failed");
        }
    }

    fn owns(&self, kind: &str) -> bool {
        self.inner.reconciler.kinds().contains(&kind)
    }

    fn is_mine(&self, bp: &Blueprint) -> bool {
        match &self.inner.location {
            None => true,
            Some(loc) => bp.metadata.location_name.is_empty() || &bp.metadata.location_name == loc,
        }
    }

    async fn reconcile_named_locked(
        &self,
        name: &str,
        process: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let inner = &self.inner;
        match inner
            .client
            .get_blueprint(&inner.key, &inner.colony, name)
            .await?
        {
            Some(bp) if self.owns(&bp.kind) => {
                if !self.is_mine(&bp) {
                    return Ok(vec![format!(
                        "blueprint {name} belongs to location {}",
                        bp.metadata.location_name
                    )]);
                }
                self.converge_locked(&bp, process).await
            }
            Some(bp) => Err(Error::Unsupported(format!(
                "blueprint {name} is a {}, not a kind {} handles",
                bp.kind, inner.source
            ))),
            None => self.remove_locked(name, process).await,
        }
    }

    async fn converge_locked(
        &self,
        bp: &Blueprint,
        process: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let span = tracing::info_span!(
            "blueprint.converge",
            blueprint = %bp.metadata.name,
            kind = %bp.kind,
            generation = bp.metadata.generation
        );
        if let Some(tp) = bp
            .metadata
            .annotations
            .get(maestro_common::contract::ANN_TRACEPARENT)
        {
            let mut traced = unpoisoned(&self.inner.traced);
            if traced.get(&bp.metadata.name) != Some(tp) {
                maestro_common::telemetry::context::set_parent(&span, tp);
                traced.insert(bp.metadata.name.clone(), tp.clone());
            }
        }
        let started = std::time::Instant::now();
        let result = self.converge_inner(bp, process).instrument(span).await;
        crate::metrics::converged(
            &self.inner.source,
            result.is_ok(),
            started.elapsed().as_secs_f64(),
        );
        result
    }

    async fn converge_inner(
        &self,
        bp: &Blueprint,
        process: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let name = &bp.metadata.name;
        let c = converge_blueprint(&self.inner.reconciler, bp).await?;
        let now = maestro_common::time::rfc3339(maestro_common::time::now_millis());
        self.write_status(name, status_json(bp, &c, &now)).await;
        if let (Some(reason), Some(message)) = (c.invalid_spec, c.message) {
            self.record(Level::Error, name, &message, process).await;
            return Err(Error::Spec(reason));
        }
        let result = self.finish(name, c.outcome, process).await;
        for line in &c.warnings {
            self.record(Level::Warn, name, line, process).await;
        }
        result
    }

    async fn remove_locked(&self, name: &str, process: Option<&str>) -> Result<Vec<String>, Error> {
        let out = remove_blueprint(&self.inner.reconciler, name).await?;
        let done = self.finish(name, out, process).await?;
        // Gone for good: what the driver kept about it goes too (a blueprint of that name added
        // later starts afresh), so these maps hold the blueprints the site has, not every name
        // it ever had.
        self.forget(name);
        Ok(done)
    }

    /// Forgets the order trace and the last status of blueprint `name`.
    fn forget(&self, name: &str) {
        unpoisoned(&self.inner.traced).remove(name);
        unpoisoned(&self.inner.written).0.remove(name);
    }

    /// Whether the driver keeps anything about blueprint `name` (its trace, its last status).
    #[cfg(test)]
    fn remembers(&self, name: &str) -> bool {
        unpoisoned(&self.inner.traced).contains_key(name)
            || unpoisoned(&self.inner.written).0.contains_key(name)
    }

    async fn write_status(&self, name: &str, json: serde_json::Value) {
        let inner = &self.inner;
        match inner
            .client
            .update_blueprint_status(&inner.key, &inner.colony, name, json.clone())
            .await
        {
            Ok(()) => {
                let new = unpoisoned(&inner.written).says_new(name, &json);
                if new {
                    inner.recorder.changed();
                }
            }
            // Removed meanwhile: its cleanup follows.
            Err(e) if e.status() == Some(404) => {}
            Err(e) => {
                tracing::warn!(error = %e, blueprint = name, "writing blueprint status failed")
            }
        }
    }

    /// Logs an outcome and turns its errors into the result.
    async fn finish(
        &self,
        name: &str,
        out: Outcome,
        process: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        for line in &out.done {
            self.record(Level::Info, name, line, process).await;
        }
        for line in &out.errors {
            self.record(Level::Error, name, line, process).await;
        }
        if !out.done.is_empty() {
            self.inner.recorder.changed();
        }
        if out.errors.is_empty() {
            Ok(out.done)
        } else {
            Err(Error::Failed(out.errors.join("; ")))
        }
    }
}

/// The status a convergence of `bp` writes: the reconciler's status; when it refused the spec,
/// the refusal with the intent generation it is about (`contract::STATUS_INVALID_SPEC`); and its
/// health verdict, with the same intent generation (`contract::STATUS_UNHEALTHY` or
/// `contract::STATUS_FELL_BACK`).
fn status_json(bp: &Blueprint, c: &Converged, now: &str) -> serde_json::Value {
    let mut status = c
        .status
        .to_json(bp.metadata.generation, c.message.as_deref(), now);
    let Some(obj) = status.as_object_mut() else {
        return status;
    };
    if let Some(reason) = &c.invalid_spec {
        obj.insert(
            contract::STATUS_INVALID_SPEC.into(),
            contract::invalid_spec_status(reason, &bp.metadata.annotations),
        );
    }
    if let Some(verdict) = &c.verdict {
        let (key, value) = verdict.to_status(&bp.metadata.annotations);
        obj.insert(key.into(), value);
    }
    status
}

#[cfg(test)]
mod tests {
    use colony::model::{FunctionSpec, Process};

    use super::*;
    use crate::config_file::{ConfigFileReconciler, KIND, ManagedDir, Manifest};
    use crate::{MemoryRecorder, Status};

    #[tokio::test]
    async fn a_process_naming_an_invalid_blueprint_is_refused_before_any_call() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let reconciler = ConfigFileReconciler::new(
            ManagedDir::open(dir.path()).unwrap(),
            Manifest::open(&db).unwrap(),
        );
        // Nothing listens there: a colony call would fail with another error.
        let target = Target {
            client: ColonyClient::from_addr("127.0.0.1:9".parse().unwrap()),
            key: PrivateKey::generate(),
            colony: "site".into(),
            location: None,
            source: "config-file-reconciler-site".into(),
        };
        let driver = Driver::new(reconciler, target, Arc::new(MemoryRecorder::default()));
        let mut spec = FunctionSpec::new("cleanup", "site", "config-file-reconciler");
        spec.kwargs.insert("kind".into(), KIND.into());
        spec.kwargs.insert("blueprintName".into(), "../etc".into());
        let process = Process {
            spec,
            ..Process::default()
        };
        let e = driver.handle(&process).await.unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("kwargs.blueprintName"), "{e}");
    }

    #[tokio::test]
    async fn a_removed_blueprint_leaves_nothing_behind_in_the_driver() {
        use crate::host::Registration;
        use colony::model::{Colony, Executor};
        let dir = tempfile::tempdir().unwrap();
        let (server_key, owner, exec) = (
            PrivateKey::generate(),
            PrivateKey::generate(),
            PrivateKey::generate(),
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        let server = colony::start(
            colony::ServerConfig::new(
                dir.path().join("colony"),
                server_key.id(),
                "127.0.0.1:0".parse().unwrap(),
            ),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let client = ColonyClient::from_addr(server.addr);
        let colony = Colony {
            colony_id: owner.id(),
            name: "site".into(),
        };
        client.add_colony(&server_key, &colony).await.unwrap();
        let registration = crate::config_file::ConfigFileRegistration;
        let executor = Executor::new(&exec.id(), registration.executor_type(), "cfg", "site");
        client.add_executor(&owner, &executor).await.unwrap();
        client
            .approve_executor(&owner, "site", "cfg")
            .await
            .unwrap();
        for def in registration.definitions("site") {
            client.add_blueprint_definition(&owner, &def).await.unwrap();
        }
        let db = sled::Config::new().temporary(true).open().unwrap();
        let reconciler = ConfigFileReconciler::new(
            ManagedDir::open(&dir.path().join("files")).unwrap(),
            Manifest::open(&db).unwrap(),
        );
        let target = Target {
            client: client.clone(),
            key: exec,
            colony: "site".into(),
            location: None,
            source: "cfg".into(),
        };
        let driver = Driver::new(reconciler, target, Arc::new(MemoryRecorder::default()));
        let spec = serde_json::json!({"files": [{"path": "motd", "content": "hi\n"}]});
        let mut bp = Blueprint::new(KIND, "motd", "site", spec);
        bp.metadata.annotations.insert(
            contract::ANN_TRACEPARENT.into(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        );
        client.add_blueprint(&owner, &bp).await.unwrap();
        driver.reconcile_named("motd", None).await.unwrap();
        assert!(
            driver.remembers("motd"),
            "converged: its trace and status kept"
        );
        client
            .remove_blueprint(&owner, "site", "motd")
            .await
            .unwrap();
        driver.cleanup("motd", None).await.unwrap();
        assert!(!driver.remembers("motd"), "removed: nothing kept about it");
        assert!(!dir.path().join("files/motd").exists());
        shutdown.cancel();
    }

    #[test]
    fn a_status_that_differs_only_in_its_times_says_nothing_new() {
        let status = |state: &str, at: &str| {
            Status {
                instances: vec![crate::InstanceStatus {
                    name: "web-0".into(),
                    id: "42".into(),
                    instance_type: "process",
                    state: state.into(),
                    generation: Some(1),
                    extra: serde_json::Map::new(),
                }],
                running: u32::from(state == "running"),
                total: 1,
            }
            .to_json(1, None, at)
        };
        let mut written = Written::default();
        let t1 = "2026-01-01T00:00:00.000Z";
        let t2 = "2026-01-01T00:01:00.000Z";
        assert!(written.says_new("web", &status("running", t1)), "the first");
        assert!(
            !written.says_new("web", &status("running", t2)),
            "a recheck a minute later that found it running"
        );
        assert!(written.says_new("web", &status("exited", t2)), "it exited");
        assert!(
            written.says_new("api", &status("exited", t2)),
            "another blueprint"
        );
        assert!(written.says_new("web", &status("running", t2)), "restarted");
    }

    #[test]
    fn a_refused_spec_is_written_with_the_intent_generation_it_is_about() {
        let mut bp = Blueprint::new("ProcessDeployment", "web", "site", serde_json::json!({}));
        bp.metadata.generation = 7;
        bp.metadata
            .annotations
            .insert(contract::ANN_INTENT_GENERATION.into(), "3".into());
        let refused = Converged {
            outcome: Outcome::default(),
            status: Status::default(),
            message: Some("invalid spec: spec.replicas: at most 256".into()),
            invalid_spec: Some("spec.replicas: at most 256".into()),
            verdict: None,
            warnings: Vec::new(),
        };
        let json = status_json(&bp, &refused, "t").to_string();
        assert_eq!(
            contract::refusal_at(&json, 3).as_deref(),
            Some("spec.replicas: at most 256")
        );
        let fine = Converged {
            invalid_spec: None,
            message: None,
            ..refused
        };
        assert_eq!(
            contract::refusal_at(&status_json(&bp, &fine, "t").to_string(), 3),
            None
        );
    }

    #[test]
    fn a_health_verdict_is_written_with_the_intent_generation_it_is_about() {
        let mut bp = Blueprint::new("ProcessDeployment", "web", "site", serde_json::json!({}));
        bp.metadata.generation = 9;
        bp.metadata
            .annotations
            .insert(contract::ANN_INTENT_GENERATION.into(), "4".into());
        let unhealthy = Converged {
            outcome: Outcome::default(),
            status: Status::default(),
            message: None,
            invalid_spec: None,
            verdict: Some(crate::Verdict::Unhealthy {
                attempts: 2,
                message: "tcp 127.0.0.1:8080: connection refused".into(),
            }),
            warnings: Vec::new(),
        };
        let json = status_json(&bp, &unhealthy, "t").to_string();
        let v = contract::unhealthy_at(&json, 4).expect("an unhealthy verdict");
        assert_eq!(v.attempts, 2);
        assert_eq!(v.message, "tcp 127.0.0.1:8080: connection refused");
        assert_eq!(contract::fell_back_at(&json, 4), None);
        let fell_back = Converged {
            verdict: Some(crate::Verdict::FellBack { attempts: 3 }),
            ..unhealthy
        };
        let json = status_json(&bp, &fell_back, "t").to_string();
        assert_eq!(
            contract::fell_back_at(&json, 4).map(|v| v.attempts),
            Some(3)
        );
        assert_eq!(contract::unhealthy_at(&json, 4), None);
        assert_eq!(contract::fell_back_at(&json, 3), None);
    }
}
