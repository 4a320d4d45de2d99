//! `run`: open the store, apply retention once, bind, serve `LogService` (with health and
//! reflection) and run the retention loop until shutdown, then stop subscriptions and the loop and
//! release the database.

use crate::config::Config;
use crate::error::Error;
use crate::rate_limit::SiteRateLimiter;
use crate::retention_loop;
use crate::service::LogServer;
use crate::store::RecordStore;
use maestro_common::ResourceName;
use maestro_common::access::Access;
use maestro_common::grpc;
use maestro_common::identity::Role;
use maestro_proto::logs::v1::log_service_server::LogServiceServer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client connection may go without a frame before the log server pings it. Sites
/// push a heartbeat every `heartbeat_interval_ms` (10 s by default), which keeps a live site's
/// connection from ever being pinged; a link that went silent is still dropped (and its
/// subscriber slot freed) within this plus `maestro_common::grpc::KEEPALIVE_TIMEOUT`. The
/// usual 10 s raced the heartbeat and cost every site a ping answer on its metered uplink.
const CLIENT_KEEPALIVE: Duration = Duration::from_secs(30);

/// The gRPC service name, as reported by health checking.
pub const SERVICE_NAME: &str = "maestro.logs.v1.LogService";

/// Deadlock guard when waiting for the last handle of the database to go after shutdown.
const RELEASE_GUARD: Duration = Duration::from_secs(10);

/// A serving log server.
#[derive(Debug)]
pub struct Running {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// Ends after shutdown, once the server has drained and the database is closed.
    pub task: tokio::task::JoinHandle<()>,
}

/// Opens the store in `config.data_dir`, applies the retention policy once, binds
/// `config.listen` and serves until `shutdown` is cancelled. Returns once serving.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    config.validate()?;
    let policy = retention_loop::policy(&config);
    let Config {
        listen,
        data_dir,
        metrics_listen: _,
        health_listen: _,
        domain,
        max_record_bytes,
        retention_max_records: _,
        retention_max_bytes: _,
        retention_max_age_ms: _,
        retention_interval_ms,
        rate_limit_per_site,
        rate_limit_burst,
        tls,
    } = config;
    std::fs::create_dir_all(&data_dir).map_err(|source| Error::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let store = Arc::new(RecordStore::open(&data_dir)?);
    if policy.is_limited() {
        retention_loop::pass(&store, &policy).await;
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: listen,
        source,
    })?;

    let stop = shutdown.child_token();
    let own = Role::Domain {
        domain: ResourceName::parse("domain", &domain)?,
    };
    let tls = maestro_common::tls::start(&tls, "log server", &own, &stop)?;
    let access = Access::from_tls(tls.as_ref(), Default::default());
    // Subscriptions and the retention loop: awaited on shutdown before the store is closed.
    let subscriptions = TaskTracker::new();
    if policy.is_limited() {
        subscriptions.spawn(retention_loop::run(
            store.clone(),
            policy,
            Duration::from_millis(retention_interval_ms),
            stop.clone(),
        ));
    }
    let service = LogServer {
        store: store.clone(),
        domain: domain.clone(),
        max_record_bytes,
        rate_limit: Arc::new(SiteRateLimiter::new(rate_limit_per_site, rate_limit_burst)),
        subscriptions: subscriptions.clone(),
        shutdown: stop.clone(),
        access,
        commits: Default::default(),
    };
    let routes = tonic::service::Routes::new(
        LogServiceServer::new(service).max_decoding_message_size(grpc::MAX_MESSAGE_BYTES),
    );
    tracing::info!(%addr, domain, last_sequence = store.last_sequence(), "log server serving");

    let task = tokio::spawn(async move {
        let served = grpc::serve_with_keepalive(
            listener,
            routes,
            &[SERVICE_NAME],
            tls,
            CLIENT_KEEPALIVE,
            stop.clone(),
        );
        if let Err(e) = served.await {
            tracing::error!(error = %e, "log server stopped with an error");
        }
        stop.cancel();
        subscriptions.close();
        subscriptions.wait().await;
        if let Err(e) = store.flush().await {
            tracing::error!(error = %e, "final flush failed");
        }
        let released = store.closed();
        drop(store);
        if tokio::time::timeout(RELEASE_GUARD, released).await.is_err() {
            tracing::warn!("record store still referenced after shutdown");
        }
        tracing::info!(domain, "log server stopped");
    });
    Ok(Running { addr, task })
}
