//! How a site starts the Docker reconciler (`reconcilers.docker` in the site config).

use std::path::PathBuf;

use async_trait::async_trait;
use colony::PrivateKey;
use colony::model::BlueprintDefinition;
use reconciler::{Error, Host, Registration, executor, parse_settings};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definitions::{docker_deployment_definition, executor_deployment_definition};
use crate::docker::{DEFAULT_SOCKET, docker_available};
use crate::executor::DockerReconcilerConfig;
use crate::spec::EXECUTOR_TYPE;

/// Whether a site runs the Docker reconciler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DockerMode {
    /// When the Docker Engine answers at start.
    #[default]
    Auto,
    /// Always; the site does not start without a Docker Engine.
    On,
    /// Never.
    Off,
}

/// Settings of `reconcilers.docker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSettings {
    /// `auto`, `on` or `off`.
    pub mode: DockerMode,
    /// Unix socket of the Docker Engine.
    pub socket: PathBuf,
    /// Pull images missing locally (default false: a missing image is an error).
    pub allow_pull: bool,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            mode: DockerMode::Auto,
            socket: PathBuf::from(DEFAULT_SOCKET),
            allow_pull: false,
        }
    }
}

/// The Docker reconciler's registration.
#[derive(Debug, Default)]
pub struct DockerRegistration;

fn settings(v: &Value) -> Result<DockerSettings, Error> {
    parse_settings("docker", v).map_err(Error::Config)
}

#[async_trait]
impl Registration for DockerRegistration {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn executor_type(&self) -> &'static str {
        EXECUTOR_TYPE
    }

    fn definitions(&self, colony: &str) -> Vec<BlueprintDefinition> {
        vec![
            docker_deployment_definition(colony),
            executor_deployment_definition(colony),
        ]
    }

    fn validate(&self, v: &Value) -> Result<(), String> {
        parse_settings::<DockerSettings>(self.name(), v).map(|_| ())
    }

    /// `auto` probes the engine once; `on` fails when it does not answer.
    async fn enabled(&self, v: &Value) -> Result<bool, Error> {
        let s = settings(v)?;
        let socket = s.socket.display().to_string();
        match s.mode {
            DockerMode::Off => Ok(false),
            DockerMode::Auto => {
                let up = docker_available(&s.socket).await;
                if up {
                    tracing::info!(
                        socket,
                        "Docker Engine answers; running the Docker reconciler"
                    );
                } else {
                    tracing::info!(
                        socket,
                        "no Docker Engine answers; the Docker reconciler stays off"
                    );
                }
                Ok(up)
            }
            DockerMode::On if docker_available(&s.socket).await => Ok(true),
            DockerMode::On => Err(Error::Config(format!(
                "reconcilers.docker.mode is \"on\" but no Docker Engine answers on {socket}"
            ))),
        }
    }

    async fn start(&self, v: &Value, host: &Host, key: PrivateKey) -> Result<(), Error> {
        let s = settings(v)?;
        let mut config = DockerReconcilerConfig::new(host.client.clone(), &host.colony, key);
        config.location = Some(host.location.clone());
        config.docker_socket = s.socket;
        config.allow_pull = s.allow_pull;
        config.recorder = host.recorder.clone();
        let driver = config
            .build(&host.shutdown)
            .await
            .map_err(|e| Error::Runtime(format!("docker: {e}")))?;
        host.tracker
            .spawn(executor::run(driver, host.shutdown.clone()));
        Ok(())
    }
}
