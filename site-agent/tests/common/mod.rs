//! Test harness: a bare Git repository the test commits into, an in-test log server, the agent
//! started on a temp data dir, and process helpers that look at /proc.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use maestro_proto::logs::v1::log_service_server::{LogService, LogServiceServer};
use maestro_proto::logs::v1::{
    PushRequest, PushResponse, QueryRequest, QueryResponse, Record, SubscribeRequest, record,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Deadlock guard for every wait.
pub const WAIT: Duration = Duration::from_secs(60);

/// Env variable put into every test workload so leftovers can be found and killed.
pub const MARKER_ENV: &str = "SITE_AGENT_TEST_MARKER";

// ---- Git ---------------------------------------------------------------------------------------

/// A bare repository in a temp dir; the test commits whole file sets to `main`.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    files: BTreeMap<String, Vec<u8>>,
}

impl TestRepo {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        git2::Repository::init_bare(dir.path())?;
        Ok(Self {
            dir,
            files: BTreeMap::new(),
        })
    }

    pub fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub fn put(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.to_string(), bytes.into());
    }

    pub fn delete(&mut self, path: &str) {
        self.files.remove(path);
    }

    /// Commits the current file set to `main`; returns the commit id.
    pub fn commit(&self, message: &str) -> Result<String> {
        let repo = git2::Repository::open_bare(self.dir.path())?;
        let tree = build_tree(&repo, &self.files, "")?;
        let tree = repo.find_tree(tree)?;
        let sig = git2::Signature::now("test", "test@example.com")?;
        let parent = repo
            .refname_to_id("refs/heads/main")
            .ok()
            .map(|id| repo.find_commit(id))
            .transpose()?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            message,
            &tree,
            &parents,
        )?;
        Ok(id.to_string())
    }
}

fn build_tree(
    repo: &git2::Repository,
    files: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
) -> Result<git2::Oid> {
    let mut builder = repo.treebuilder(None)?;
    let mut subdirs: BTreeMap<String, ()> = BTreeMap::new();
    for (path, bytes) in files.range(prefix.to_string()..) {
        let Some(rest) = path.strip_prefix(prefix) else {
            break;
        };
        match rest.split_once('/') {
            Some((dir, _)) => {
                subdirs.insert(dir.to_string(), ());
            }
            None => {
                let blob = repo.blob(bytes)?;
                builder.insert(rest, blob, 0o100644)?;
            }
        }
    }
    for dir in subdirs.keys() {
        let oid = build_tree(repo, files, &format!("{prefix}{dir}/"))?;
        builder.insert(dir, oid, 0o040000)?;
    }
    Ok(builder.write()?)
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

// ---- log server --------------------------------------------------------------------------------

/// A log server that forwards pushed records to the test.
pub struct LogSink {
    tx: mpsc::UnboundedSender<Record>,
}

#[tonic::async_trait]
impl LogService for LogSink {
    async fn push(
        &self,
        request: tonic::Request<PushRequest>,
    ) -> Result<tonic::Response<PushResponse>, tonic::Status> {
        let records = request.into_inner().records;
        let accepted = records.len() as u32;
        for r in records {
            let _ = self.tx.send(r);
        }
        Ok(tonic::Response::new(PushResponse {
            accepted,
            duplicates: 0,
            last_sequence: 0,
        }))
    }

    type SubscribeStream = tokio_stream::Empty<Result<Record, tonic::Status>>;

    async fn subscribe(
        &self,
        _: tonic::Request<SubscribeRequest>,
    ) -> Result<tonic::Response<Self::SubscribeStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("test sink"))
    }

    async fn query(
        &self,
        _: tonic::Request<QueryRequest>,
    ) -> Result<tonic::Response<QueryResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("test sink"))
    }
}

/// A running test log server.
pub struct LogServer {
    pub addr: SocketAddr,
    pub records: mpsc::UnboundedReceiver<Record>,
    pub stop: CancellationToken,
    /// Everything received so far, in arrival order.
    pub seen: Vec<Record>,
}

impl LogServer {
    /// Serves on 127.0.0.1:0.
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(listener).await
    }

    /// Serves on a given address (used to bring a "down" server up).
    pub async fn start_on(addr: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Self::serve(listener).await
    }

    async fn serve(listener: tokio::net::TcpListener) -> Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let svc = LogServiceServer::new(LogSink { tx });
        let token = stop.clone();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    token.cancelled_owned(),
                )
                .await;
        });
        Ok(Self {
            addr,
            records: rx,
            stop,
            seen: Vec::new(),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A record matching `pred` among those already seen, else the next one that arrives.
    pub async fn seen_or_wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&Record) -> bool,
    ) -> Result<Record> {
        if let Some(r) = self.seen.iter().find(|r| pred(r)) {
            return Ok(r.clone());
        }
        self.wait_for(what, pred).await
    }

    /// Waits for a record matching `pred` (records before it are kept in `seen`).
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Record) -> bool) -> Result<Record> {
        let started = tokio::time::Instant::now();
        let deadline = started + WAIT;
        let _report = ElapsedReport {
            what: what.to_string(),
            started,
        };
        loop {
            let r = tokio::time::timeout_at(deadline, self.records.recv())
                .await
                .with_context(|| {
                    format!(
                        "timed out waiting for {what}; received: {:#?}",
                        summary(&self.seen)
                    )
                })?
                .context("log server channel closed")?;
            self.seen.push(r.clone());
            if pred(&r) {
                return Ok(r);
            }
        }
    }
}

struct ElapsedReport {
    what: String,
    started: tokio::time::Instant,
}

impl Drop for ElapsedReport {
    fn drop(&mut self) {
        eprintln!("waited {:?} for {}", self.started.elapsed(), self.what);
    }
}

/// Short description of records, for failure messages.
pub fn summary(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match &r.body {
            Some(record::Body::Status(s)) => format!(
                "{}#{} status {} gen {} ready {}/{} converged {} removed {} {}",
                r.stream,
                r.sender_sequence,
                r.blueprint,
                r.generation,
                s.ready_instances,
                s.total_instances,
                s.converged,
                s.removed,
                s.message
            ),
            Some(record::Body::Log(l)) => format!(
                "{}#{} log {} [{}] {}",
                r.stream, r.sender_sequence, r.blueprint, l.level, l.message
            ),
            Some(record::Body::Heartbeat(h)) => format!(
                "{}#{} heartbeat {}",
                r.stream, r.sender_sequence, h.blueprints
            ),
            None => format!("{}#{} empty", r.stream, r.sender_sequence),
        })
        .collect()
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
        git_remote: git_remote.to_string(),
        branch: "main".to_string(),
        sync_interval_ms: 200,
        log_server: log_server.to_string(),
        colony_url: None,
        colony_listen: "127.0.0.1:0".parse().expect("addr"),
        heartbeat_interval_ms: 2_000,
        colony_reconcile_interval_ms: 60_000,
        outbox_max_records: site_agent::outbox::DEFAULT_MAX_RECORDS,
        // These tests are about the process reconciler; Docker is exercised in `tests/`.
        reconcilers: [("docker".to_string(), serde_json::json!({"mode": "off"}))].into(),
    }
}

/// Logs to the test's captured output (shown for failing tests); `RUST_LOG` overrides.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("site_agent=debug,colony=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
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
        tokio::time::timeout(WAIT, self.running.task)
            .await
            .context("agent did not stop")??;
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

/// A live (non-zombie) process with its environment.
#[derive(Debug, Clone)]
pub struct Workload {
    pub pid: u32,
    pub env: HashMap<String, String>,
}

fn environ(pid: u32) -> Option<HashMap<String, String>> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter_map(|kv| {
                std::str::from_utf8(kv)
                    .ok()?
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// True when `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
    !matches!(state.as_deref(), None | Some("Z") | Some("X"))
}

/// Live processes whose environment carries `marker`, sorted by pid.
pub fn workloads(marker: &str) -> Vec<Workload> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            continue;
        }
        if let Some(env) = environ(pid)
            && env.get(MARKER_ENV).map(String::as_str) == Some(marker)
        {
            out.push(Workload { pid, env });
        }
    }
    out.sort_by_key(|w| w.pid);
    out
}

/// Kills every process carrying `marker` when dropped (also on panic).
pub struct WorkloadGuard {
    pub marker: String,
}

impl WorkloadGuard {
    pub fn new() -> Self {
        Self {
            marker: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl Drop for WorkloadGuard {
    fn drop(&mut self) {
        for w in workloads(&self.marker) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(w.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Stops the agent, then its workloads through the library's cleanup helper, and checks that
/// nothing carrying `marker` survived.
pub async fn teardown(agent: Agent, data_dir: &Path, marker: &str) -> Result<()> {
    agent.stop().await?;
    site_agent::stop_all_instances(data_dir).await?;
    let left = workloads(marker);
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
