//! The embedded colony server: ColonyOS v1.9.12 RPCs over `POST /api`, state in sled.
//!
//! Invariants: every mutating call is flushed to sled before it is answered; error replies
//! carry the HTTP status of their `{status, message}` payload; long-polling assigns wake on
//! submission (no polling) and end on shutdown.

mod auth;
mod cron;
mod deadlines;
mod error;
mod handlers;
mod http;
mod names;
mod resources;
mod retention;
mod scheduler;
mod schema;
mod state;
mod store;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use retention::Retention;
pub use tls::{TlsError, TlsFiles};

use state::ServerState;
use store::Store;

/// Default ColonyOS port.
pub const DEFAULT_PORT: u16 = 50080;

/// Default self-healing reconcile interval.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);

/// Configuration of an embedded colony server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directory of the sled database (created if missing).
    pub data_dir: PathBuf,
    /// Identity of the server owner (may add and list colonies).
    pub server_id: String,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Interval of the self-healing reconcile loops when a definition sets none.
    pub reconcile_interval: Duration,
    /// Serve HTTPS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// How long closed processes are kept; every one by default, as upstream.
    pub retention: Retention,
}

impl ServerConfig {
    /// A plain-HTTP config with the default reconcile interval (60 s).
    pub fn new(
        data_dir: impl Into<PathBuf>,
        server_id: impl Into<String>,
        listen: SocketAddr,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            server_id: server_id.into(),
            listen,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            tls: None,
            retention: Retention::KEEP_ALL,
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The sled database could not be opened.
    #[error("cannot open colony database at {path}: {source}")]
    Storage {
        /// The data directory.
        path: PathBuf,
        /// The cause.
        source: sled::Error,
    },
    /// Stored state could not be loaded.
    #[error("cannot restore colony state: {0}")]
    Restore(ApiError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server id is empty.
    #[error("server id must not be empty")]
    NoServerId,
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A started server: its bound address and the task that runs until shutdown.
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// Completes after shutdown, once every connection and loop has ended and sled is flushed.
    pub join: JoinHandle<()>,
}

impl RunningServer {
    /// Waits until the server has stopped (after the shutdown token is cancelled).
    pub async fn stopped(self) {
        if let Err(e) = self.join.await {
            tracing::warn!(error = %e, "colony server task failed");
        }
    }
}

/// Opens the store, binds `config.listen` and serves until `shutdown` is cancelled.
pub async fn start(
    config: ServerConfig,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServerError> {
    if config.server_id.trim().is_empty() {
        return Err(ServerError::NoServerId);
    }
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let store = Store::open(&config.data_dir).map_err(|source| ServerError::Storage {
        path: config.data_dir.clone(),
        source,
    })?;
    store.migrate_keys().map_err(ServerError::Restore)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let state = Arc::new(ServerState::new(
        store,
        config.server_id,
        shutdown.clone(),
        config.reconcile_interval,
    ));
    cron::restore(&state).map_err(ServerError::Restore)?;
    // On the blocking pool, as the periodic sweeps: a large backlog takes a while to remove.
    let sweeping = Arc::clone(&state);
    let retention = config.retention;
    let removed =
        scheduler::blocking(move || retention::sweep(&sweeping, retention, chrono::Utc::now()))
            .await
            .map_err(ServerError::Restore)?;
    if removed > 0 {
        tracing::info!(removed, "closed processes past retention removed");
    }
    deadlines::spawn(&state);
    retention::spawn(&state, retention);
    tracing::info!(%addr, tls = tls.is_some(), "colony server listening");
    let join = tokio::spawn(accept_loop(listener, tls, state, shutdown));
    Ok(RunningServer { addr, join })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ServerState>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let st = Arc::clone(&state);
        let token = shutdown.clone();
        let tls = tls.clone();
        state.tracker.spawn(async move {
            match tls {
                None => serve_connection(stream, st, token).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        _ = token.cancelled() => None,
                        tls = tls::handshake(&acceptor, stream) => tls,
                    };
                    if let Some(stream) = handshake {
                        serve_connection(stream, st, token).await;
                    }
                }
            }
        });
    }
    drop(listener);
    state.tracker.close();
    state.tracker.wait().await;
    state.cron_registry().clear();
    if let Err(e) = state.store.flush() {
        tracing::warn!(error = %e, "final flush failed");
    }
    drop(state);
}

/// Serves HTTP/1.1 on one connection until it ends or shutdown drains it.
async fn serve_connection<I>(io: I, state: Arc<ServerState>, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| http::serve(Arc::clone(&state), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.as_mut().await;
        }
    }
}
