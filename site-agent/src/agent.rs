//! `run`: wires keys, the colony (embedded or external), the outbox sender, the GitOps sync, the
//! reconcilers of [`crate::reconcilers`] that are enabled, and the status reporter.

use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use std::net::SocketAddr;
use std::time::Duration;

use colony::ColonyClient;
use reconciler::process::Launcher;
use reconciler::{Host, Registration};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Error;
use crate::config::Config;
use crate::context::SiteContext;
use crate::gitsync::notices::{self, Notices};
use crate::gitsync::trust::TrustStore;
use crate::gitsync::{GitMirror, GitSync, SyncTiming, Verification};
use crate::keys::SiteKeys;
use crate::outbox::{self, Outbox};
use crate::recorder::SiteRecorder;
use crate::report::StatusReporter;

/// Directory of the agent's sled database inside the data dir.
pub const DB_DIR: &str = "agent.sled";
/// Directory of the embedded colony's database inside the data dir.
pub const COLONY_DIR: &str = "colony";
/// Directory of the local Git mirror inside the data dir.
pub const GIT_DIR: &str = "git";
/// Directory of the native processes' output inside the data dir.
pub const LOG_DIR: &str = reconciler::process::LOG_DIR;

/// A reconciler that runs at this site, with its settings section.
struct Enabled {
    registration: Box<dyn Registration>,
    settings: Value,
}

/// A started site agent.
#[derive(Debug)]
pub struct Running {
    /// Address of the site's colony (the embedded server's bound address, or the external
    /// colony's resolved address).
    pub addr: SocketAddr,
    /// Ends after shutdown once every loop stopped, the embedded colony stopped and sled is flushed.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the site agent; returns once the colony is serving and every loop runs. Cancelling
/// `shutdown` stops the agent (never its workloads).
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    run_with(config, Launcher::Direct, shutdown).await
}

/// [`run`], its native processes started through `launcher` (many sites in one process share a
/// launch helper).
pub async fn run_with(
    config: Config,
    launcher: Launcher,
    shutdown: CancellationToken,
) -> Result<Running, Error> {
    maestro_common::config::Validate::validate(&config)
        .map_err(|e| Error::Config(e.to_string()))?;
    // Checks the Git transport's files (CA, key, known hosts, password) before anything starts.
    let git = maestro_git_transport::RemoteAccess::new(&config.git_remote, &config.git)
        .map_err(|e| Error::Config(format!("git: {e}")))?;
    let own = Role::Site {
        domain: ResourceName::parse("domain", &config.domain)
            .map_err(|e| Error::Config(e.to_string()))?,
        site: ResourceName::parse("site", &config.site)
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    let tls = maestro_common::tls::start(&config.tls, "site agent", &own, &shutdown)?;
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Error::io(format!("creating {}", data_dir.display()), e))?;
    let embedded = config.colony_url.is_none();
    let enabled = enabled_reconcilers(&config).await?;
    let types: Vec<&str> = enabled
        .iter()
        .map(|e| e.registration.executor_type())
        .collect();
    let keys = SiteKeys::load_or_create(&data_dir, embedded, &types)?;
    let colony_shutdown = CancellationToken::new();
    let (client, addr, server) = match &config.colony_url {
        None => {
            let server_id = keys
                .server_owner
                .as_ref()
                .map(colony::PrivateKey::id)
                .unwrap_or_default();
            let mut server_config = colony::ServerConfig::new(
                data_dir.join(COLONY_DIR),
                server_id,
                config.colony_listen,
            );
            server_config.reconcile_interval =
                Duration::from_millis(config.colony_reconcile_interval_ms);
            server_config.retention = config.colony_retention();
            let server = start_colony(server_config, &colony_shutdown).await?;
            (
                ColonyClient::from_addr(server.addr),
                server.addr,
                Some(server),
            )
        }
        Some(url) => (ColonyClient::new(url)?, resolve(url).await, None),
    };
    let bootstrapped = async {
        crate::bootstrap::bootstrap(&client, &keys, &config.site).await?;
        for e in &enabled {
            let r = e.registration.as_ref();
            let key = executor_key(&keys, r)?;
            crate::bootstrap::bootstrap_reconciler(&client, &keys, &config.site, r, key).await?;
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = bootstrapped.await {
        stop_colony(&colony_shutdown, server).await;
        return Err(e);
    }
    let db = match open_db(&data_dir.join(DB_DIR)).await {
        Ok(db) => db,
        Err(e) => {
            stop_colony(&colony_shutdown, server).await;
            return Err(e);
        }
    };
    let tracker = match start_loops(
        &config,
        Local {
            client,
            keys,
            db: db.clone(),
            launcher,
        },
        &enabled,
        Outbound { git, tls },
        &shutdown,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            stop_colony(&colony_shutdown, server).await;
            return Err(e);
        }
    };
    let names: Vec<&str> = enabled.iter().map(|e| e.registration.name()).collect();
    tracing::info!(site = %config.site, domain = %config.domain, colony = %addr, reconcilers = ?names, "site agent running");
    let task = tokio::spawn(async move {
        shutdown.cancelled().await;
        tracker.close();
        tracker.wait().await;
        if let Err(e) = maestro_common::durable::flush(&db).await {
            tracing::warn!(error = %e, "final flush of the agent database failed");
        }
        drop(db);
        stop_colony(&colony_shutdown, server).await;
    });
    Ok(Running { addr, task })
}

/// The reconcilers that run here, per their settings sections (a reconciler may probe what it
/// needs, e.g. a Docker Engine, and fail the start when its settings require it).
async fn enabled_reconcilers(config: &Config) -> Result<Vec<Enabled>, Error> {
    let mut out = Vec::new();
    for registration in crate::reconcilers::registrations() {
        let settings = config
            .reconcilers
            .get(registration.name())
            .cloned()
            .unwrap_or(Value::Null);
        if registration.enabled(&settings).await? {
            out.push(Enabled {
                registration,
                settings,
            });
        }
    }
    Ok(out)
}

fn executor_key<'k>(
    keys: &'k SiteKeys,
    r: &dyn Registration,
) -> Result<&'k colony::PrivateKey, Error> {
    keys.executor(r.executor_type())
        .ok_or_else(|| Error::Corrupt(format!("no key for executor {}", r.executor_type())))
}

/// How long opening a sled database retries while a just-stopped instance still holds its lock
/// (sled finishes in-flight writes on background threads after the last handle is dropped).
const LOCK_WAIT: Duration = Duration::from_secs(10);

// The agent database has no background flush. sled's (every 500 ms by default) is a thread of
// its own per database that wakes even when nothing changed, and each such thread is registered
// with sled's epoch collector, which every database of a process shares: with hundreds of sites
// in one process (`maestroctl dev`), those threads were half of an idle federation's CPU and
// slowed every sled operation (`docs/performance.md`, idle cost). What the agent must not lose
// is flushed before it is relied on: the Git sync state, the trusted keys, the reconcilers'
// tables, and the outbox before every push attempt (so what the log server may have seen is on
// disk; `tests/crash.rs`) and every 10 s while a push is in flight, so a record queued during
// an outage is on disk at most 10 s later (`outbox::sender`). A clean stop flushes on close.

/// Opens the agent database at `path` without a background flusher (see above), waiting for a
/// previous holder in this process to let go.
pub(crate) async fn open_db(path: &std::path::Path) -> Result<sled::Db, Error> {
    let path = path.to_path_buf();
    let open = move || maestro_common::durable::open_flushed_by_owner(&path);
    match tokio::task::spawn_blocking(open).await {
        Ok(db) => Ok(db?),
        Err(join) => Err(Error::Runtime(format!(
            "opening the agent database: {join}"
        ))),
    }
}

/// Sends the report a panic left (`crate::panic_report`) to the domain: durable in the outbox
/// before its file is removed.
async fn report_panic(ctx: &SiteContext, data_dir: &std::path::Path) -> Result<(), Error> {
    let Some(report) = crate::panic_report::take(data_dir) else {
        return Ok(());
    };
    tracing::error!(%report, "the agent panicked before this start");
    ctx.outbox.log(
        "error",
        "",
        crate::panic_report::SOURCE,
        format!("the agent panicked before this start: {report}"),
    );
    maestro_common::durable::flush(&ctx.db).await?;
    if let Err(e) = crate::panic_report::forget(data_dir) {
        // Reported again at the next start: twice is better than never.
        tracing::warn!(error = %e, "cannot remove the panic report");
    }
    Ok(())
}

async fn start_colony(
    config: colony::ServerConfig,
    shutdown: &CancellationToken,
) -> Result<colony::RunningServer, Error> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        match colony::start(config.clone(), shutdown.clone()).await {
            Err(colony::ServerError::Storage { source, .. })
                if maestro_common::durable::is_lock_error(&source)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other.map_err(|e| Error::ColonyServer(e.to_string())),
        }
    }
}

async fn stop_colony(token: &CancellationToken, server: Option<colony::RunningServer>) {
    token.cancel();
    if let Some(s) = server {
        s.stopped().await;
    }
}

/// How the site reaches out: its Git remote and its domain's log server (the only connections
/// a site makes).
struct Outbound {
    git: maestro_git_transport::RemoteAccess,
    tls: Option<TlsSource>,
}

/// What the site's loops use on the site itself: its colony and keys, its database, and how its
/// native processes start.
struct Local {
    client: ColonyClient,
    keys: SiteKeys,
    db: sled::Db,
    launcher: Launcher,
}

async fn start_loops(
    config: &Config,
    local: Local,
    enabled: &[Enabled],
    outbound: Outbound,
    shutdown: &CancellationToken,
) -> Result<TaskTracker, Error> {
    let Outbound { git, tls } = outbound;
    let Local {
        client,
        keys,
        db,
        launcher,
    } = local;
    // Made first: an agent that could never report must not start (the config's validation
    // already refuses an endpoint that does not parse; the outbox has no other way to disk).
    let log_server = outbox::log_server_client(
        &config.log_server,
        tls.as_ref(),
        Duration::from_millis(config.heartbeat_interval_ms),
    )
    .map_err(Error::Config)?;
    let tracker = TaskTracker::new();
    let outbox =
        Outbox::open_bounded(&db, &config.domain, &config.site, config.outbox_max_records)?;
    let ctx = SiteContext {
        client,
        keys,
        domain: config.domain.clone(),
        site: config.site.clone(),
        colony: config.site.clone(),
        outbox: outbox.clone(),
        db,
        report_poke: std::sync::Arc::default(),
        sync: crate::gitsync::SharedSyncState::default(),
    };
    // Reconcilers get a child token so a failed start stops the ones started before it.
    let reconcilers = shutdown.child_token();
    let host = Host {
        client: ctx.client.clone(),
        colony: ctx.colony.clone(),
        location: ctx.site.clone(),
        data_dir: config.data_dir.clone(),
        db: ctx.db.clone(),
        recorder: std::sync::Arc::new(SiteRecorder::new(outbox.clone(), ctx.report_poke.clone())),
        tracker: tracker.clone(),
        shutdown: reconcilers.clone(),
        launcher,
    };
    for e in enabled {
        let r = e.registration.as_ref();
        let key = executor_key(&ctx.keys, r)?.clone();
        if let Err(err) = r.start(&e.settings, &host, key).await {
            reconcilers.cancel();
            tracker.close();
            tracker.wait().await;
            return Err(err.into());
        }
    }
    let notices = if config.commit_notices {
        let (tx, rx) = tokio::sync::watch::channel(Notices::default());
        tracker.spawn(notices::follow(log_server.clone(), tx, shutdown.clone()));
        Some(rx)
    } else {
        None
    };
    tracker.spawn(outbox::run_sender_on(outbox, log_server, shutdown.clone()));
    // An agent killed mid-fetch leaves lock files in its mirror that would fail every later
    // fetch; no other process writes the mirror (the data dir is held by the sled lock).
    let removed = maestro_git_transport::remove_stale_locks(&config.data_dir.join(GIT_DIR));
    if !removed.is_empty() {
        ctx.outbox.log(
            "warn",
            "",
            "gitsync",
            format!(
                "removed {} stale Git lock file(s) left by an interrupted run",
                removed.len()
            ),
        );
    }
    report_panic(&ctx, &config.data_dir).await?;
    let mirror = GitMirror::new(
        &config.data_dir.join(GIT_DIR),
        &config.git_remote,
        &config.branch,
    )
    .with_access(git);
    let sync = GitSync::new(ctx.clone(), mirror, verification(config, &ctx.db)?)?
        .paused_by(&config.data_dir);
    let timing = SyncTiming {
        interval: Duration::from_millis(config.sync_interval_ms),
        noticed_interval: Duration::from_millis(config.noticed_sync_interval_ms),
        recheck: Duration::from_millis(config.colony_reconcile_interval_ms),
    };
    tracker.spawn(sync.run(timing, notices, shutdown.clone()));
    let reporter = StatusReporter::new(ctx, crate::report::ReportTiming::from_config(config))?;
    tracker.spawn(reporter.run(shutdown.clone()));
    Ok(tracker)
}

/// How the sync verifies commits, from the `signing` section (warning loudly when it does not).
fn verification(config: &Config, db: &sled::Db) -> Result<Verification, Error> {
    let pinned = config
        .signing
        .pinned("signing")
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok(match pinned {
        Some(keys) => {
            tracing::info!(site = %config.site, keys = keys.keys.len(), threshold = keys.threshold,
                "verifying every commit against the pinned signing keys");
            Verification::Signed(TrustStore::open(db, keys)?)
        }
        None if config.signing.insecure_unsigned => {
            tracing::warn!(site = %config.site,
                "signing.insecure_unsigned is set: commits are applied WITHOUT verifying any signature; \
                 whoever can write to the Git remote decides what this site runs");
            Verification::Off
        }
        None => {
            tracing::warn!(site = %config.site,
                "no signing keys are pinned (signing.keys): every commit will be refused");
            Verification::NoKeys
        }
    })
}

/// Best-effort socket address of an external colony URL (unspecified when it does not resolve).
async fn resolve(url: &str) -> SocketAddr {
    let trimmed = url.trim().trim_end_matches('/');
    let host_port = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let host_port = host_port.split('/').next().unwrap_or_default();
    let with_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_string()
    } else {
        format!("{host_port}:{}", colony::server::DEFAULT_PORT)
    };
    match tokio::net::lookup_host(with_port).await {
        Ok(mut addrs) => addrs
            .next()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        Err(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}
