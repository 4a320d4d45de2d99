//! Test harness: a real embedded server on 127.0.0.1:0 and the real client.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use colony::{
    Colony, ColonyClient, Executor, PrivateKey, Retention, RunningServer, ServerConfig, User, start,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

pub const COLONY: &str = "site-a";

/// Deadlock guard for awaited futures.
pub async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("timed out")
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub server_key: PrivateKey,
    pub owner_key: PrivateKey,
    pub shutdown: CancellationToken,
    pub server: Option<RunningServer>,
    pub client: ColonyClient,
    pub interval: Duration,
    pub retention: Retention,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with_interval(Duration::from_secs(3600)).await
    }

    pub async fn start_with_interval(interval: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server_key = PrivateKey::generate();
        let owner_key = PrivateKey::generate();
        let shutdown = CancellationToken::new();
        let server = launch(&dir, &server_key, &shutdown, interval, Retention::KEEP_ALL).await;
        let client = ColonyClient::from_addr(server.addr);
        Self {
            dir,
            server_key,
            owner_key,
            shutdown,
            server: Some(server),
            client,
            interval,
            retention: Retention::KEEP_ALL,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        self.shutdown.cancel();
        guard(self.server.take().unwrap().stopped()).await;
        self.shutdown = CancellationToken::new();
        let server = launch(
            &self.dir,
            &self.server_key,
            &self.shutdown,
            self.interval,
            self.retention,
        )
        .await;
        self.client = ColonyClient::from_addr(server.addr);
        self.server = Some(server);
    }

    /// Server owner adds the colony owned by `owner_key`.
    pub async fn add_colony(&self) -> Colony {
        let colony = Colony {
            colony_id: self.owner_key.id(),
            name: COLONY.to_owned(),
        };
        self.client
            .add_colony(&self.server_key, &colony)
            .await
            .unwrap()
    }

    /// Colony owner adds and approves an executor; returns its key.
    pub async fn approved_executor(
        &self,
        name: &str,
        executor_type: &str,
        location: &str,
    ) -> PrivateKey {
        let key = PrivateKey::generate();
        let mut e = Executor::new(&key.id(), executor_type, name, COLONY);
        e.location_name = location.to_owned();
        self.client.add_executor(&self.owner_key, &e).await.unwrap();
        self.client
            .approve_executor(&self.owner_key, COLONY, name)
            .await
            .unwrap();
        key
    }

    /// Colony owner adds a user; returns its key.
    pub async fn user(&self, name: &str) -> PrivateKey {
        let key = PrivateKey::generate();
        let user = User {
            colony_name: COLONY.to_owned(),
            user_id: key.id(),
            name: name.to_owned(),
            email: format!("{name}@example.org"),
            phone: String::new(),
        };
        self.client.add_user(&self.owner_key, &user).await.unwrap();
        key
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn launch(
    dir: &tempfile::TempDir,
    server_key: &PrivateKey,
    shutdown: &CancellationToken,
    interval: Duration,
    retention: Retention,
) -> RunningServer {
    let mut config = ServerConfig::new(dir.path(), server_key.id(), "127.0.0.1:0".parse().unwrap());
    config.reconcile_interval = interval;
    config.retention = retention;
    start(config, shutdown.clone()).await.unwrap()
}

/// Posts a raw body to /api; returns (HTTP status, reply JSON).
pub async fn raw_post(addr: SocketAddr, body: String) -> (u16, serde_json::Value) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::post(format!("http://{addr}/api"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}
