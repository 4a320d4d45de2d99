//! Test harness of the site agent: ProcessDeployment blueprint files for a bare Git repository,
//! an in-test log server that hands pushed records to the test, the agent started on a temp data
//! dir, and its workloads marked by an environment variable. Waiting, Git, /proc and servers
//! come from `maestro-testkit`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use maestro_proto::logs::v1::{Record, record};
pub use maestro_testkit::GUARD;
use maestro_testkit::grpc::TestServer;
use maestro_testkit::logs::{FakeLogs, Pushed};
pub use maestro_testkit::procs::WorkloadGuard;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Env variable put into every test workload so leftovers can be found and killed.
pub const MARKER_ENV: &str = "SITE_AGENT_TEST_MARKER";

/// A guard over the workloads of one test: they carry [`MARKER_ENV`] = `guard.value`.
pub fn workload_guard() -> WorkloadGuard {
    WorkloadGuard::unique(MARKER_ENV)
}

/// A ProcessDeployment blueprint file running `/bin/sleep <args>`, as the domain writes it.
pub fn process_blueprint(
    name: &str,
    intent: &str,
    generation: u64,
    replicas: u32,
    args: &[&str],
    marker: &str,
) -> Vec<u8> {
    command_blueprint(
        name,
        intent,
        generation,
        replicas,
        "/bin/sleep",
        args,
        marker,
    )
}

/// A ProcessDeployment blueprint file running `command args`.
pub fn command_blueprint(
    name: &str,
    intent: &str,
    generation: u64,
    replicas: u32,
    command: &str,
    args: &[&str],
    marker: &str,
) -> Vec<u8> {
    let v = json!({
        "kind": "ProcessDeployment",
        "metadata": {
            "name": name,
            "labels": {"maestro.io/service": name},
            "annotations": {
                "maestro.io/intent-id": intent,
                "maestro.io/intent-generation": generation.to_string(),
                "maestro.io/order-id": format!("order-{generation}"),
                "maestro.io/service": name,
            }
        },
        "spec": {"command": command, "args": args, "env": {MARKER_ENV: marker}, "replicas": replicas}
    });
    maestro_common::json::canonical(&v).into_bytes()
}

/// The blueprint `api`: one instance of `/bin/sleep <sleep>` with `spec.healthCheck` = `check`.
pub fn checked_blueprint(
    generation: u64,
    sleep: &str,
    check: Value,
    intent: &str,
    marker: &str,
) -> Vec<u8> {
    let bytes = process_blueprint("api", intent, generation, 1, &[sleep], marker);
    let mut v: Value = serde_json::from_slice(&bytes).expect("a blueprint");
    v["spec"]["healthCheck"] = check;
    maestro_common::json::canonical(&v).into_bytes()
}

/// A blueprint file with one more annotation.
pub fn annotated(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).expect("a blueprint");
    v["metadata"]["annotations"][key] = json!(value);
    maestro_common::json::canonical(&v).into_bytes()
}

/// The status JSON of a status record of `blueprint` at intent generation `generation`.
pub fn status_json(r: &Record, blueprint: &str, generation: u64) -> Option<String> {
    match &r.body {
        Some(record::Body::Status(s)) if r.blueprint == blueprint && r.generation == generation => {
            Some(s.status_json.clone())
        }
        _ => None,
    }
}

/// True for a log record of `blueprint` whose message contains `text`.
pub fn log_says(r: &Record, blueprint: &str, text: &str) -> bool {
    matches!(&r.body, Some(record::Body::Log(l)) if r.blueprint == blueprint && l.message.contains(text))
}

// ---- log server --------------------------------------------------------------------------------

/// A running in-test log server; derefs to what reached it ([`Pushed`]).
pub struct LogServer {
    /// Its service, to make it refuse pushes for a while.
    pub fake: FakeLogs,
    pushed: Pushed,
    server: TestServer,
}

impl LogServer {
    /// Serves on 127.0.0.1:0.
    pub async fn start() -> Result<Self> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    /// Serves on a given address (used to bring a "down" server up).
    pub async fn start_on(addr: SocketAddr) -> Result<Self> {
        let (fake, pushed, server) = FakeLogs::start_on(addr).await?;
        Ok(Self {
            fake,
            pushed,
            server,
        })
    }

    /// Its URL.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }
}

impl std::ops::Deref for LogServer {
    type Target = Pushed;
    fn deref(&self) -> &Pushed {
        &self.pushed
    }
}

impl std::ops::DerefMut for LogServer {
    fn deref_mut(&mut self) -> &mut Pushed {
        &mut self.pushed
    }
}

/// True for a converged status record of `blueprint` at intent generation `generation` with
/// `ready` instances.
pub fn is_converged(r: &Record, blueprint: &str, generation: u64, ready: u32) -> bool {
    matches!(&r.body, Some(record::Body::Status(s))
        if r.blueprint == blueprint && r.generation == generation && s.converged && s.ready_instances == ready && s.total_instances == ready)
}

/// Pids listed in a status record's status_json.
pub fn status_pids(r: &Record) -> Vec<u32> {
    let Some(record::Body::Status(s)) = &r.body else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&s.status_json).unwrap_or(Value::Null);
    let mut pids: Vec<u32> = v["instances"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

// ---- agent -------------------------------------------------------------------------------------

/// Config for a test agent with short intervals.
pub fn agent_config(
    data_dir: &Path,
    site: &str,
    git_remote: &str,
    log_server: &str,
) -> site_agent::Config {
    site_agent::Config {
        domain: "north".to_string(),
        site: site.to_string(),
        data_dir: data_dir.to_path_buf(),
        metrics_listen: None,
        git_remote: git_remote.to_string(),
        git: Default::default(),
        branch: "main".to_string(),
        sync_interval_ms: 200,
        // The in-test log server sends no commit notices; these tests commit straight to the
        // remote and rely on polling.
        commit_notices: false,
        noticed_sync_interval_ms: 200,
        log_server: log_server.to_string(),
        colony_url: None,
        colony_listen: "127.0.0.1:0".parse().expect("addr"),
        heartbeat_interval_ms: 2_000,
        status_refresh_interval_ms: site_agent::Config::default().status_refresh_interval_ms,
        colony_reconcile_interval_ms: 60_000,
        colony_keep_successful_ms: site_agent::Config::default().colony_keep_successful_ms,
        colony_keep_failed_ms: site_agent::Config::default().colony_keep_failed_ms,
        outbox_max_records: site_agent::outbox::DEFAULT_MAX_RECORDS,
        // These tests are about the process reconciler; Docker is exercised in `tests/`.
        reconcilers: [("docker".to_string(), serde_json::json!({"mode": "off"}))].into(),
        tls: maestro_common::tls::TlsSettings::insecure(),
        // These tests write commits straight to the remote; signed commits are tested in
        // `gitsync::verify` and end to end in `tests/tests/signed_state.rs`.
        signing: site_agent::gitsync::trust::SigningSettings {
            insecure_unsigned: true,
            ..Default::default()
        },
    }
}

/// Logs to the test's captured output (shown for failing tests); `RUST_LOG` overrides.
pub fn init_tracing() {
    maestro_testkit::tracing::init("site_agent=debug,colony=info");
}

/// A started agent and how to stop it.
pub struct Agent {
    pub running: site_agent::Running,
    pub shutdown: CancellationToken,
}

impl Agent {
    pub async fn start(config: site_agent::Config) -> Result<Self> {
        init_tracing();
        let shutdown = CancellationToken::new();
        let running = site_agent::run(config, shutdown.clone()).await?;
        Ok(Self { running, shutdown })
    }

    /// Stops the agent and waits until it released everything.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        maestro_testkit::within("the agent to stop", GUARD, self.running.task).await??;
        Ok(())
    }
}

/// A colony client signed with the agent's key from the data dir.
pub fn colony_client(
    data_dir: &Path,
    addr: SocketAddr,
) -> Result<(colony::ColonyClient, colony::PrivateKey)> {
    let keys: Value = serde_json::from_slice(&std::fs::read(data_dir.join("keys.json"))?)?;
    let key = colony::PrivateKey::from_hex(keys["agent"].as_str().context("agent key")?)?;
    Ok((colony::ColonyClient::from_addr(addr), key))
}

// ---- processes ---------------------------------------------------------------------------------

/// Stops the agent, then its workloads through the library's cleanup helper, and checks that
/// nothing `guard` guards survived.
pub async fn teardown(agent: Agent, data_dir: &Path, guard: &WorkloadGuard) -> Result<()> {
    agent.stop().await?;
    site_agent::stop_all_instances(data_dir).await?;
    let left = guard.workloads();
    if !left.is_empty() {
        bail!("workloads survived cleanup: {left:?}");
    }
    Ok(())
}

/// A fresh data dir.
pub fn data_dir() -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("site");
    Ok((dir, path))
}
