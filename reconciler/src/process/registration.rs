//! How a site starts the process reconciler.

use async_trait::async_trait;
use colony::PrivateKey;
use colony::model::BlueprintDefinition;
use maestro_common::contract::process_deployment_definition;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::output::OutputForwarder;
use super::runtime::ProcessRuntime;
use super::spec::EXECUTOR_TYPE;
use super::table::InstanceTable;
use super::{ProcessReconciler, STOP_GRACE, heal};
use crate::host::parse_settings;
use crate::{Error, Host, Registration, definition_from_contract};

/// Folder of the native processes' output inside the site's data dir.
pub const LOG_DIR: &str = "logs";

/// The id this site's process reconciler labels its processes with: made once, kept in sled.
fn owner_id(db: &sled::Db) -> Result<String, Error> {
    let tree = db.open_tree("process-reconciler")?;
    let fresh = uuid::Uuid::new_v4().to_string();
    // The first value stored wins, whoever stored it.
    let _ = tree.compare_and_swap(b"owner", None::<&[u8]>, Some(fresh.as_bytes()))?;
    let stored = tree
        .get(b"owner")?
        .ok_or_else(|| Error::Corrupt("process reconciler owner id missing".into()))?;
    tree.flush()?;
    Ok(String::from_utf8_lossy(&stored).into_owned())
}

/// Settings of `reconcilers.process` (none yet; unknown keys are refused).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {}

/// The process reconciler's registration. It always runs.
#[derive(Debug, Default)]
pub struct ProcessRegistration;

#[async_trait]
impl Registration for ProcessRegistration {
    fn name(&self) -> &'static str {
        "process"
    }

    fn executor_type(&self) -> &'static str {
        EXECUTOR_TYPE
    }

    fn definitions(&self, colony: &str) -> Vec<BlueprintDefinition> {
        vec![definition_from_contract(
            &process_deployment_definition(),
            colony,
        )]
    }

    fn validate(&self, settings: &Value) -> Result<(), String> {
        parse_settings::<Settings>(self.name(), settings).map(|_| ())
    }

    async fn enabled(&self, _settings: &Value) -> Result<bool, Error> {
        Ok(true)
    }

    async fn start(&self, _settings: &Value, host: &Host, key: PrivateKey) -> Result<(), Error> {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (wakes_tx, wakes_rx) = mpsc::unbounded_channel();
        let log_dir = host.data_dir.join(LOG_DIR);
        let runtime = ProcessRuntime::new(
            &host.location,
            &owner_id(&host.db)?,
            &log_dir,
            exits_tx,
            host.shutdown.clone(),
            host.tracker.clone(),
            host.launcher.clone(),
        );
        let reconciler = ProcessReconciler::new(
            InstanceTable::open(&host.db)?,
            runtime,
            OutputForwarder::open(&host.db, &log_dir)?,
            STOP_GRACE,
            wakes_tx,
        );
        let driver = host.driver(reconciler, EXECUTOR_TYPE, key);
        host.spawn_executor(driver.clone());
        host.tracker
            .spawn(heal::run(driver, exits_rx, wakes_rx, host.shutdown.clone()));
        Ok(())
    }
}
