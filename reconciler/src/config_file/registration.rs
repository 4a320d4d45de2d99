//! How a site starts the config file reconciler.

use std::path::PathBuf;

use async_trait::async_trait;
use colony::PrivateKey;
use colony::model::BlueprintDefinition;
use maestro_common::contract::DefinitionDocument;
use serde::Deserialize;
use serde_json::{Value, json};

use super::disk::ManagedDir;
use super::manifest::Manifest;
use super::reconcile::ConfigFileReconciler;
use super::spec::{EXECUTOR_TYPE, KIND};
use crate::host::parse_settings;
use crate::{Error, Host, Registration, definition_from_contract};

/// The managed directory inside the site's data dir when `reconcilers.config_file.dir` is unset.
pub const DEFAULT_DIR: &str = "config-files";

/// Settings of `reconcilers.config_file`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The managed directory (absolute); `<data_dir>/config-files` when unset.
    dir: Option<PathBuf>,
    /// `false` turns the reconciler off.
    enabled: Option<bool>,
}

impl Settings {
    fn parse(settings: &Value) -> Result<Self, String> {
        let s: Self = parse_settings("config_file", settings)?;
        if let Some(dir) = &s.dir
            && !dir.is_absolute()
        {
            return Err(format!(
                "reconcilers.config_file.dir: {} is not an absolute path",
                dir.display()
            ));
        }
        Ok(s)
    }
}

/// The config file reconciler's registration.
#[derive(Debug, Default)]
pub struct ConfigFileRegistration;

#[async_trait]
impl Registration for ConfigFileRegistration {
    fn name(&self) -> &'static str {
        "config_file"
    }

    fn executor_type(&self) -> &'static str {
        EXECUTOR_TYPE
    }

    fn definitions(&self, colony: &str) -> Vec<BlueprintDefinition> {
        let schema = json!({
            "type": "object",
            "properties": {"files": {"type": "array", "items": {"type": "object"}}},
            "required": ["files"]
        });
        vec![definition_from_contract(
            &DefinitionDocument::new(KIND, EXECUTOR_TYPE, schema),
            colony,
        )]
    }

    fn validate(&self, settings: &Value) -> Result<(), String> {
        Settings::parse(settings).map(|_| ())
    }

    async fn enabled(&self, settings: &Value) -> Result<bool, Error> {
        let s = Settings::parse(settings).map_err(Error::Config)?;
        Ok(s.enabled.unwrap_or(true))
    }

    async fn start(&self, settings: &Value, host: &Host, key: PrivateKey) -> Result<(), Error> {
        let s = Settings::parse(settings).map_err(Error::Config)?;
        let root = s.dir.unwrap_or_else(|| host.data_dir.join(DEFAULT_DIR));
        let dir = ManagedDir::open(&root)
            .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let reconciler = ConfigFileReconciler::new(dir, Manifest::open(&host.db)?);
        host.spawn_executor(host.driver(reconciler, EXECUTOR_TYPE, key));
        Ok(())
    }
}
