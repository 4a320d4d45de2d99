//! [`ContainerRuntime`] over the Docker Engine API (bollard, Unix socket, version negotiated).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, HealthConfig, HostConfig, PortBinding,
    RestartPolicy as DockerRestart, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StartContainerOptions, StopContainerOptions,
};
use futures::{StreamExt, TryStreamExt};

use crate::labels;
use crate::runtime::{ContainerRuntime, ContainerState, Health, ObservedContainer, RuntimeError};
use crate::spec::DesiredContainer;

/// Default Docker Engine socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Restart policy given to created containers (the reconciler heals either way; a policy also
/// brings containers back after a host reboot before the next reconcile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// No engine restarts: only the reconciler restarts exited containers.
    No,
    /// `unless-stopped`.
    #[default]
    UnlessStopped,
    /// `always`.
    Always,
}

/// How [`DockerRuntime`] talks to the engine.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// Engine socket (default `/var/run/docker.sock`).
    pub socket: PathBuf,
    /// Pull images missing locally (default off: a missing image is an error).
    pub allow_pull: bool,
    /// Time between SIGTERM and SIGKILL when stopping a container (default 10 s).
    pub stop_grace: Duration,
    /// Restart policy of created containers.
    pub restart_policy: RestartPolicy,
    /// Timeout of one engine call (default 120 s; must exceed `stop_grace`).
    pub api_timeout: Duration,
}

impl Default for DockerOptions {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            allow_pull: false,
            stop_grace: Duration::from_secs(10),
            restart_policy: RestartPolicy::default(),
            api_timeout: Duration::from_secs(120),
        }
    }
}

/// The Docker Engine runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    options: DockerOptions,
}

/// True when a Docker Engine answers on `socket` (within 5 s).
pub async fn docker_available(socket: &Path) -> bool {
    let probe = async {
        let docker = connect(socket, Duration::from_secs(5)).await.ok()?;
        docker.ping().await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), probe).await,
        Ok(Some(_))
    )
}

async fn connect(socket: &Path, timeout: Duration) -> Result<Docker, RuntimeError> {
    let path = socket
        .to_str()
        .ok_or_else(|| RuntimeError::Engine(format!("socket path {socket:?} is not UTF-8")))?;
    Docker::connect_with_socket(path, timeout.as_secs().max(1), bollard::API_DEFAULT_VERSION)
        .map_err(|e| RuntimeError::Engine(format!("connecting to {path}: {e}")))?
        .negotiate_version()
        .await
        .map_err(|e| RuntimeError::Engine(format!("Docker Engine at {path} does not answer: {e}")))
}

fn status_code(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn engine(what: &str, e: BollardError) -> RuntimeError {
    RuntimeError::Engine(format!("{what}: {e}"))
}

impl DockerRuntime {
    /// Connects to the engine on `options.socket` and negotiates the API version.
    pub async fn connect(options: DockerOptions) -> Result<Self, RuntimeError> {
        let docker = connect(&options.socket, options.api_timeout).await?;
        Ok(Self { docker, options })
    }

    /// The bollard client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    async fn ensure_image(&self, image: &str) -> Result<(), RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => {
                if !self.options.allow_pull {
                    return Err(RuntimeError::ImageMissing {
                        image: image.to_string(),
                        reason: "pulling is disabled".into(),
                    });
                }
                tracing::info!(image, "pulling image");
                let options = CreateImageOptions {
                    from_image: Some(image.to_string()),
                    ..Default::default()
                };
                self.docker
                    .create_image(Some(options), None, None)
                    .try_collect::<Vec<_>>()
                    .await
                    .map(|_| ())
                    .map_err(|e| RuntimeError::ImageMissing {
                        image: image.to_string(),
                        reason: format!("pull failed: {e}"),
                    })
            }
            Err(e) => Err(engine(&format!("inspecting image {image}"), e)),
        }
    }
}

/// The create request for `d`: labels, env, command, volumes as `Binds`, network mode,
/// privileged, limits, restart policy; ports are exposed and published unless the network mode
/// is `host`/`none`/`container:` (then they are only recorded in the `colonies.ports` label).
fn create_body(d: &DesiredContainer, restart_policy: RestartPolicy) -> ContainerCreateBody {
    let publish = !d.ports_informational() && d.ports.iter().any(|p| p.host.is_some());
    let port_key = |p: &crate::spec::PortSpec| format!("{}/{}", p.container, p.protocol);
    let exposed: Vec<String> = if d.ports_informational() {
        Vec::new()
    } else {
        d.ports.iter().map(port_key).collect()
    };
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    if publish {
        for p in d.ports.iter().filter(|p| p.host.is_some()) {
            bindings
                .entry(port_key(p))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: None,
                    host_port: p.host.map(|h| h.to_string()),
                });
        }
    }
    let restart = match restart_policy {
        RestartPolicy::No => RestartPolicyNameEnum::NO,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
    };
    let binds: Vec<String> = d.volumes.iter().map(|v| v.bind_string()).collect();
    ContainerCreateBody {
        image: Some(d.image.clone()),
        env: Some(d.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        entrypoint: d.entrypoint.clone(),
        cmd: d.cmd.clone(),
        labels: Some(d.labels().into_iter().collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            network_mode: Some(d.network_mode.clone()),
            privileged: Some(d.privileged),
            binds: (!binds.is_empty()).then_some(binds),
            port_bindings: publish.then_some(bindings),
            restart_policy: Some(DockerRestart {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            nano_cpus: d.nano_cpus,
            memory: d.memory_bytes,
            ..Default::default()
        }),
        healthcheck: d.health_check.as_ref().map(|h| HealthConfig {
            test: Some(h.engine_test()),
            interval: Some(nanos(h.interval)),
            timeout: Some(nanos(h.timeout)),
            retries: Some(i64::from(h.retries)),
            start_period: Some(nanos(h.start_period)),
            start_interval: None,
        }),
        ..Default::default()
    }
}

/// A duration in the engine's nanoseconds.
fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn observed_from_summary(c: ContainerSummary) -> ObservedContainer {
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name,
        image: c.image.unwrap_or_default(),
        state: ContainerState::parse(&c.state.map(|s| s.to_string()).unwrap_or_default()),
        health: c.status.as_deref().and_then(Health::from_status_line),
        health_log: String::new(),
        status: c.status.unwrap_or_default(),
        labels: c
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn list_managed(
        &self,
        colony: &str,
        blueprint: Option<&str>,
    ) -> Result<Vec<ObservedContainer>, RuntimeError> {
        let mut label_filters = vec![
            format!("{}=true", labels::MANAGED),
            format!("{}={colony}", labels::COLONY),
        ];
        if let Some(b) = blueprint {
            label_filters.push(format!("{}={b}", labels::BLUEPRINT));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), label_filters)])),
            ..Default::default()
        };
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine("listing containers", e))?;
        Ok(list.into_iter().map(observed_from_summary).collect())
    }

    async fn create_and_start(&self, d: &DesiredContainer) -> Result<String, RuntimeError> {
        self.ensure_image(&d.image).await?;
        let options = CreateContainerOptions {
            name: Some(d.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), create_body(d, self.options.restart_policy))
            .await
            .map_err(|e| engine(&format!("creating container {}", d.name), e))?;
        if let Err(e) = self
            .docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
        {
            // Leave no half-made container behind: the next reconcile starts from scratch.
            let _ = self
                .docker
                .remove_container(
                    &created.id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await;
            return Err(engine(&format!("starting container {}", d.name), e));
        }
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        match self
            .docker
            .start_container(id, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(304) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Err(RuntimeError::NotFound(id.to_string())),
            Err(e) => Err(engine(&format!("starting container {id}"), e)),
        }
    }

    async fn stop_and_remove(&self, id: &str) -> Result<(), RuntimeError> {
        let grace = i32::try_from(self.options.stop_grace.as_secs()).unwrap_or(i32::MAX);
        match self
            .docker
            .stop_container(
                id,
                Some(StopContainerOptions {
                    t: Some(grace),
                    signal: None,
                }),
            )
            .await
        {
            Ok(()) => {}
            Err(e) if matches!(status_code(&e), Some(304 | 404)) => {}
            Err(e) => return Err(engine(&format!("stopping container {id}"), e)),
        }
        match self
            .docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            // 404: gone; 409: removal already in progress.
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(engine(&format!("removing container {id}"), e)),
        }
    }

    async fn inspect(&self, id: &str) -> Result<Option<ObservedContainer>, RuntimeError> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => {
                let config = c.config.unwrap_or_default();
                let health = c.state.as_ref().and_then(|s| s.health.as_ref());
                let health_log = health
                    .and_then(|h| h.log.as_ref())
                    .and_then(|log| log.last())
                    .and_then(|probe| probe.output.clone())
                    .unwrap_or_default();
                let health =
                    health
                        .and_then(|h| h.status)
                        .and_then(|s| match s.to_string().as_str() {
                            "starting" => Some(Health::Starting),
                            "healthy" => Some(Health::Healthy),
                            "unhealthy" => Some(Health::Unhealthy),
                            _ => None,
                        });
                Ok(Some(ObservedContainer {
                    health,
                    health_log: health_log.trim().to_string(),
                    id: c.id.unwrap_or_default(),
                    name: c
                        .name
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    image: config.image.unwrap_or_default(),
                    state: ContainerState::parse(
                        &c.state
                            .as_ref()
                            .and_then(|s| s.status)
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                    ),
                    status: c
                        .state
                        .and_then(|s| s.exit_code)
                        .map(|code| format!("exit code {code}"))
                        .unwrap_or_default(),
                    labels: config.labels.unwrap_or_default().into_iter().collect(),
                }))
            }
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine(&format!("inspecting container {id}"), e)),
        }
    }

    async fn logs_tail(&self, id: &str, lines: usize) -> Result<Vec<String>, RuntimeError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let chunks: Vec<_> = self
            .docker
            .logs(id, Some(options))
            .take(lines.saturating_mul(4).max(16))
            .collect()
            .await;
        let mut text = String::new();
        for chunk in chunks {
            match chunk {
                Ok(c) => text.push_str(&c.to_string()),
                Err(e) if status_code(&e) == Some(404) => {
                    return Err(RuntimeError::NotFound(id.to_string()));
                }
                Err(e) => return Err(engine(&format!("reading logs of {id}"), e)),
            }
        }
        let all: Vec<String> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        Ok(all[all.len().saturating_sub(lines)..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::desired_containers;
    use colony::model::Blueprint;
    use serde_json::json;

    fn desired(network: &str) -> DesiredContainer {
        let mut bp = Blueprint::new(
            "DockerDeployment",
            "web",
            "site",
            json!({"instances": [{"name": "a", "image": "img:1", "privileged": true,
                "networkMode": network, "environment": {"K": "v"},
                "ports": [{"host": 8080, "container": 80}, {"container": 53, "protocol": "udp"}],
                "volumes": [{"type": "named", "name": "data", "mountPath": "/d", "readOnly": true}],
                "command": ["/bin/sh"], "args": ["-c", "true"]}]}),
        );
        bp.metadata.generation = 4;
        desired_containers(&bp, "site", "host").unwrap().remove(0)
    }

    #[test]
    fn bridge_containers_publish_their_ports() {
        let body = create_body(&desired("bridge"), RestartPolicy::UnlessStopped);
        assert_eq!(body.image.as_deref(), Some("img:1"));
        assert_eq!(body.env, Some(vec!["K=v".to_string()]));
        assert_eq!(body.entrypoint, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(body.cmd, Some(vec!["-c".to_string(), "true".to_string()]));
        let labels = body.labels.unwrap();
        assert_eq!(labels[labels::GENERATION], "4");
        assert_eq!(labels[labels::MANAGED], "true");
        let mut exposed = body.exposed_ports.unwrap();
        exposed.sort();
        assert_eq!(exposed, ["53/udp", "80/tcp"]);
        let hc = body.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("bridge"));
        assert_eq!(hc.privileged, Some(true));
        assert_eq!(hc.binds, Some(vec!["data:/d:ro".to_string()]));
        let bindings = hc.port_bindings.unwrap();
        assert_eq!(bindings.len(), 1);
        let b = bindings["80/tcp"].as_ref().unwrap();
        assert_eq!(b[0].host_port.as_deref(), Some("8080"));
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
    }

    #[test]
    fn host_network_ports_are_informational() {
        let body = create_body(&desired("host"), RestartPolicy::No);
        assert!(body.exposed_ports.is_none());
        let hc = body.host_config.unwrap();
        assert!(hc.port_bindings.is_none());
        assert_eq!(hc.network_mode.as_deref(), Some("host"));
        assert_eq!(
            body.labels.unwrap()[labels::PORTS],
            "8080:80/tcp,53/udp".to_string()
        );
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::NO)
        );
    }
}
