//! What a site gives its reconcilers ([`Host`], [`Recorder`]) and what each kind tells the site
//! about itself ([`Registration`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use colony::model::BlueprintDefinition;
use colony::{ColonyClient, PrivateKey};
use maestro_common::contract::DefinitionDocument;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::driver::Target;
use crate::{Driver, Error, Reconciler, executor};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something was done.
    Info,
    /// Something went wrong and will be retried (an instance crashed).
    Warn,
    /// A step failed.
    Error,
}

impl Level {
    /// `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// Where reconcilers' log lines go (the site's outbox to the log server), and who is told that
/// something changed (the site's status reporter). The driver traces its own lines; a recorder
/// only forwards (workload output goes through it too, so it must stay cheap).
pub trait Recorder: Send + Sync + fmt::Debug {
    /// A log line about `blueprint` ("" for none) from `source` (an executor, a process id or an
    /// instance name).
    fn log(&self, level: Level, blueprint: &str, source: &str, message: &str);
    /// Something at the site changed: look at the colony again soon.
    fn changed(&self);
}

/// A recorder that keeps nothing (a reconciler run on its own: the driver traces its lines).
#[derive(Debug, Default)]
pub struct DiscardRecorder;

impl Recorder for DiscardRecorder {
    fn log(&self, _level: Level, _blueprint: &str, _source: &str, _message: &str) {}

    fn changed(&self) {}
}

/// A recorder that keeps what it is told in memory (tests, tools).
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    lines: std::sync::Mutex<Vec<(Level, String, String)>>,
    changes: std::sync::atomic::AtomicUsize,
}

impl MemoryRecorder {
    /// Every line so far as (level, blueprint, message).
    pub fn lines(&self) -> Vec<(Level, String, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many change notices were given.
    pub fn changes(&self) -> usize {
        self.changes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Recorder for MemoryRecorder {
    fn log(&self, level: Level, blueprint: &str, _source: &str, message: &str) {
        if let Ok(mut l) = self.lines.lock() {
            l.push((level, blueprint.to_string(), message.to_string()));
        }
    }

    fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a site gives a reconciler it starts.
#[derive(Debug, Clone)]
pub struct Host {
    /// Client of the site colony.
    pub client: ColonyClient,
    /// Colony name.
    pub colony: String,
    /// Location of the blueprints it converges (the site name).
    pub location: String,
    /// The site's data directory; a reconciler keeps its files under `<data_dir>/<its name>/`.
    pub data_dir: PathBuf,
    /// The site's sled database; a reconciler keeps its trees under its own name.
    pub db: sled::Db,
    /// Log lines and change notices.
    pub recorder: Arc<dyn Recorder>,
    /// Where its loops run.
    pub tracker: TaskTracker,
    /// Stops its loops (never its workloads).
    pub shutdown: CancellationToken,
    /// How native processes are started.
    pub launcher: crate::process::Launcher,
}

impl Host {
    /// A driver of `reconciler` acting as this site's executor of `executor_type` (key `key`),
    /// converging the blueprints of this location.
    pub fn driver<R: Reconciler>(
        &self,
        reconciler: R,
        executor_type: &str,
        key: PrivateKey,
    ) -> Driver<R> {
        let target = Target {
            client: self.client.clone(),
            key,
            colony: self.colony.clone(),
            location: Some(self.location.clone()),
            source: executor_name(executor_type, &self.location),
        };
        Driver::new(reconciler, target, self.recorder.clone())
    }

    /// Runs the executor loop of `driver` on the host's tracker until the host's shutdown.
    pub fn spawn_executor<R: Reconciler>(&self, driver: Driver<R>) {
        self.tracker
            .spawn(executor::run(driver, self.shutdown.clone()));
    }
}

/// A kind of reconciler as a site agent sees it: its name, its executor type, the blueprint
/// definitions it brings and how to start it. The site agent holds a list of these and knows
/// nothing else about any kind.
#[async_trait]
pub trait Registration: Send + Sync {
    /// Name of its settings section in the site config (`reconcilers.<name>`).
    fn name(&self) -> &'static str;

    /// ColonyOS executor type (its executor is named `<type>-<site>`).
    fn executor_type(&self) -> &'static str;

    /// The blueprint definitions of its kinds, for colony `colony`.
    fn definitions(&self, colony: &str) -> Vec<BlueprintDefinition>;

    /// Checks its settings section (`Value::Null` when absent); `Err` names the field.
    fn validate(&self, settings: &Value) -> Result<(), String>;

    /// Whether it runs at this site with `settings` (probing what it needs, e.g. a Docker
    /// Engine). `Err` when the settings require it and it cannot run.
    async fn enabled(&self, settings: &Value) -> Result<bool, Error>;

    /// Starts its executor loop (and any loop of its own) on `host.tracker`, acting as the
    /// executor whose key is `key` (registered and approved by the site before).
    async fn start(&self, settings: &Value, host: &Host, key: PrivateKey) -> Result<(), Error>;
}

/// Name of the executor of `executor_type` at `site`.
pub fn executor_name(executor_type: &str, site: &str) -> String {
    format!("{executor_type}-{site}")
}

/// A contract definition document as a colony definition of `colony`.
pub fn definition_from_contract(doc: &DefinitionDocument, colony: &str) -> BlueprintDefinition {
    let mut def: BlueprintDefinition = serde_json::from_value(doc.to_value()).unwrap_or_default();
    def.metadata.colony_name = colony.to_string();
    def
}

/// Parses a settings section into `T` (`Null` gives the defaults); errors name the section.
pub fn parse_settings<T: serde::de::DeserializeOwned + Default>(
    section: &str,
    settings: &Value,
) -> Result<T, String> {
    if settings.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(settings.clone()).map_err(|e| format!("reconcilers.{section}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_definitions_become_colony_definitions() {
        let doc = maestro_common::contract::process_deployment_definition();
        let def = definition_from_contract(&doc, "north-1");
        assert_eq!(def.metadata.colony_name, "north-1");
        assert_eq!(def.metadata.name, "processdeployments.maestro.io");
        assert_eq!(def.spec.names.kind, "ProcessDeployment");
        assert_eq!(def.spec.handler.executor_type, "process-reconciler");
        assert_eq!(def.spec.handler.reconcile_interval, 60);
    }

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct S {
        dir: String,
    }

    #[test]
    fn settings_default_when_absent_and_name_the_section() {
        assert_eq!(
            parse_settings::<S>("x", &Value::Null).unwrap(),
            S::default()
        );
        let e = parse_settings::<S>("x", &serde_json::json!({"nope": 1})).unwrap_err();
        assert!(e.starts_with("reconcilers.x:") && e.contains("nope"), "{e}");
    }
}
