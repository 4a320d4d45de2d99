//! Test harness: a real Docker Engine (started through `scripts/docker.sh`), a colony — on an
//! embedded colony server, or on a real colonies v1.9.12 server (`scripts/colonies.sh`) — with the
//! two definitions and an approved reconciler executor, the reconciler running,
//! and a guard that removes every container and volume a test made, even when it fails. The
//! engine, waiting and ports come from `maestro-testkit`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerSummary, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, StartContainerOptions};
use colony::model::{Blueprint, Colony, Executor, User};
use colony::{ColonyClient, PrivateKey, ServerConfig};
use docker_reconciler::{
    DockerReconcilerConfig, EXECUTOR_TYPE, RestartPolicy, docker_deployment_definition,
    executor_deployment_definition, labels,
};
use maestro_testkit::colonies::RealColonies;
use maestro_testkit::docker::{SOCKET, Sweep, SweepGuard, connect, containers, ensure_docker};
use maestro_testkit::{until, within};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Deadlock guard of every wait: a Docker Engine on vfs storage can be slow to create containers.
pub const WAIT: Duration = Duration::from_secs(90);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call, usable in container names.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("dr{}x{n}-{tag}", std::process::id())
}

/// A colony server, a colony with the definitions, and the reconciler running against it.
pub struct Harness {
    /// Client of the colony.
    pub client: ColonyClient,
    /// Colony name (unique per test; also the `colonies.colony` label).
    pub colony: String,
    /// Colony owner key (registers and approves the executor, adds the definitions).
    pub owner: PrivateKey,
    /// A user of the colony: adds and updates blueprints (as the site agent does; upstream
    /// cannot name the owner as a cron initiator) and reads processes and logs.
    pub member: PrivateKey,
    /// Engine client for the test's own checks.
    pub docker: Docker,
    /// Prefix of every name this test uses.
    pub prefix: String,
    shutdown: CancellationToken,
    reconciler: Option<JoinHandle<()>>,
    server: Option<colony::RunningServer>,
    /// The real server (and its PostgreSQL) when the colony lives there.
    real: Option<RealColonies>,
    // Field order is drop order: stop everything, then sweep, then delete the data dir.
    _stop: DropGuard,
    sweep: SweepGuard,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts everything on an embedded colony server whose self-healing interval is
    /// `reconcile_interval`.
    pub async fn start(tag: &str, reconcile_interval: Duration) -> Result<Self> {
        Self::start_on(tag, Some(reconcile_interval)).await
    }

    /// Starts everything on a real colonies v1.9.12 server (its self-healing cron runs every
    /// 60 s).
    pub async fn start_real(tag: &str) -> Result<Self> {
        Self::start_on(tag, None).await
    }

    async fn start_on(tag: &str, embedded_interval: Option<Duration>) -> Result<Self> {
        ensure_docker();
        let prefix = unique(tag);
        let colony = prefix.clone();
        let dir = tempfile::tempdir()?;
        let shutdown = CancellationToken::new();
        let sweep = SweepGuard(Sweep {
            labels: vec![format!("{}={colony}", labels::COLONY)],
            names: vec![prefix.clone()],
            volumes: Vec::new(),
        });
        let owner = PrivateKey::generate();
        let executor = PrivateKey::generate();
        let (client, server_key, server, real) = match embedded_interval {
            Some(interval) => {
                let server_key = PrivateKey::generate();
                let mut config = ServerConfig::new(
                    dir.path().join("colony"),
                    server_key.id(),
                    "127.0.0.1:0".parse()?,
                );
                config.reconcile_interval = interval;
                let server = colony::start(config, shutdown.clone()).await?;
                let client = ColonyClient::from_addr(server.addr);
                (client, server_key, Some(server), None)
            }
            None => {
                let real = tokio::task::spawn_blocking(RealColonies::start)
                    .await?
                    .context("the real ColonyOS server must start (scripts/colonies.sh)")?;
                let server_key = PrivateKey::from_hex(&real.server_prvkey)?;
                (ColonyClient::new(&real.url)?, server_key, None, Some(real))
            }
        };
        client
            .add_colony(
                &server_key,
                &Colony {
                    colony_id: owner.id(),
                    name: colony.clone(),
                },
            )
            .await?;
        let member = PrivateKey::generate();
        client
            .add_user(
                &owner,
                &User {
                    colony_name: colony.clone(),
                    user_id: member.id(),
                    name: format!("{colony}-tester"),
                    ..User::default()
                },
            )
            .await?;
        let executor_name = format!("{colony}-docker-reconciler");
        client
            .add_executor(
                &owner,
                &Executor::new(&executor.id(), EXECUTOR_TYPE, &executor_name, &colony),
            )
            .await?;
        client
            .approve_executor(&owner, &colony, &executor_name)
            .await?;
        client
            .add_blueprint_definition(&owner, &docker_deployment_definition(&colony))
            .await?;
        client
            .add_blueprint_definition(&owner, &executor_deployment_definition(&colony))
            .await?;
        let mut rc = DockerReconcilerConfig::new(client.clone(), &colony, executor);
        rc.docker_socket = SOCKET.into();
        rc.stop_grace = Duration::from_secs(1);
        // Only the reconciler heals: the engine must not restart killed containers itself.
        rc.restart_policy = RestartPolicy::No;
        let reconciler = docker_reconciler::run(rc, shutdown.clone()).await?;
        Ok(Self {
            client,
            colony,
            owner,
            member,
            docker: connect().await?,
            prefix,
            shutdown: shutdown.clone(),
            reconciler: Some(reconciler),
            server,
            real,
            _stop: shutdown.drop_guard(),
            sweep,
            _dir: dir,
        })
    }

    /// A blueprint name unique to this test.
    pub fn name(&self, tag: &str) -> String {
        format!("{}-{tag}", self.prefix)
    }

    /// Registers a volume name for removal at the end.
    pub fn track_volume(&mut self, name: &str) {
        self.sweep.0.volumes.push(name.to_string());
    }

    /// Adds a blueprint of `kind`.
    pub async fn add(&self, kind: &str, name: &str, spec: Value) -> Result<Blueprint> {
        let bp = Blueprint::new(kind, name, &self.colony, spec);
        Ok(self.client.add_blueprint(&self.member, &bp).await?)
    }

    /// The blueprint `name`.
    pub async fn blueprint(&self, name: &str) -> Result<Blueprint> {
        self.client
            .get_blueprint(&self.member, &self.colony, name)
            .await?
            .with_context(|| format!("blueprint {name} not found"))
    }

    /// Replaces the spec of `name` through `change`; returns the new generation.
    pub async fn update(&self, name: &str, change: impl FnOnce(&mut Value)) -> Result<i64> {
        let mut bp = self.blueprint(name).await?;
        change(&mut bp.spec);
        let bp = self
            .client
            .update_blueprint(&self.member, &bp, false)
            .await?;
        Ok(bp.metadata.generation)
    }

    /// Waits until the status of `name` shows `running == total == n` at `generation`.
    pub async fn wait_status(&self, name: &str, n: u64, generation: i64) -> Result<Value> {
        until(
            format!("status of {name}: {n} running at generation {generation}"),
            WAIT,
            async || {
                let s = self.blueprint(name).await?.status;
                let ok = s["runningInstances"] == n
                    && s["totalInstances"] == n
                    && s["observedGeneration"] == generation;
                Ok(ok.then_some(s))
            },
        )
        .await
    }

    /// Every container labelled with this colony and blueprint `name`, in any state.
    pub async fn containers(&self, name: &str) -> Result<Vec<ContainerSummary>> {
        let filters = [
            ("label", format!("{}={}", labels::COLONY, self.colony)),
            ("label", format!("{}={name}", labels::BLUEPRINT)),
        ];
        let mut list = containers(&self.docker, &filters).await?;
        list.sort_by_key(container_name);
        Ok(list)
    }

    /// Waits until the containers of `name` are exactly `want` (container names), all running
    /// with generation label `generation`; returns them.
    pub async fn wait_running(
        &self,
        name: &str,
        want: &[String],
        generation: i64,
    ) -> Result<Vec<ContainerSummary>> {
        self.wait_running_at(name, want, Some(generation)).await
    }

    /// [`Self::wait_running`], at any generation when `generation` is `None`.
    pub async fn wait_running_at(
        &self,
        name: &str,
        want: &[String],
        generation: Option<i64>,
    ) -> Result<Vec<ContainerSummary>> {
        until(
            format!("containers {want:?} of {name} running at generation {generation:?}"),
            WAIT,
            async || {
                let list = self.containers(name).await?;
                let names: Vec<String> = list.iter().map(container_name).collect();
                let ok = names == want
                    && list.iter().all(|c| {
                        state(c) == "running"
                            && generation
                                .is_none_or(|g| label(c, labels::GENERATION) == g.to_string())
                    });
                Ok(ok.then_some(list))
            },
        )
        .await
    }

    /// Creates and starts a container by hand (`sleep 3600`) with `labels`.
    pub async fn create_by_hand(
        &self,
        container: &str,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(container.to_string()),
                    ..Default::default()
                }),
                ContainerCreateBody {
                    image: Some("local/busybox:1".into()),
                    cmd: Some(vec!["/bin/sleep".into(), "3600".into()]),
                    labels: Some(labels),
                    host_config: Some(HostConfig {
                        network_mode: Some("host".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await?;
        self.docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await?;
        Ok(created.id)
    }

    /// Stops the reconciler (the agent's stop) and waits at most `bound` for its loop to end.
    pub async fn stop_reconciler(&mut self, bound: Duration) -> Result<()> {
        self.shutdown.cancel();
        if let Some(r) = self.reconciler.take() {
            within("the reconciler to stop", bound, r).await??;
        }
        Ok(())
    }

    /// Stops the reconciler and the colony server, then removes what the test made.
    pub async fn finish(mut self) -> Result<()> {
        self.stop_reconciler(WAIT).await?;
        if let Some(s) = self.server.take() {
            within("the colony server to stop", WAIT, s.stopped()).await?;
        }
        self.sweep.0.run().await
    }

    /// The last lines of the real server's log (empty on an embedded colony).
    pub fn server_log_tail(&self, lines: usize) -> String {
        self.real
            .as_ref()
            .map(|r| r.log_tail(lines))
            .unwrap_or_default()
    }
}

/// Name of a listed container without the leading `/`.
pub fn container_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// State word of a listed container.
pub fn state(c: &ContainerSummary) -> String {
    c.state.map(|s| s.to_string()).unwrap_or_default()
}

/// Label `key` of a listed container.
pub fn label(c: &ContainerSummary, key: &str) -> String {
    c.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .cloned()
        .unwrap_or_default()
}
