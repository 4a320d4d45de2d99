//! Test fixtures: a domain orchestrator on loopback with a real bare Git remote in a tempdir,
//! an in-test log server fed through a channel, and Git inspection helpers.
#![allow(dead_code)]

use domain_orchestrator::context::Context;
use domain_orchestrator::{Config, Running};
use futures::StreamExt;
use maestro_proto::intent::v1 as pb;
use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
use maestro_proto::logs::v1 as logs;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Deadlock guard for every wait.
pub const GUARD: Duration = Duration::from_secs(20);
pub const DOMAIN: &str = "north";

pub struct Domain {
    pub running: Running,
    pub ctx: Arc<Context>,
    pub client: IntentServiceClient<Channel>,
    pub shutdown: CancellationToken,
}

impl Domain {
    pub async fn start(data: &Path, remote: &Path, log_server: Option<String>) -> Domain {
        Self::start_with(data, remote, log_server, |_| {}).await
    }

    /// Like [`Domain::start`], with `tweak` applied to the config first.
    pub async fn start_with(
        data: &Path,
        remote: &Path,
        log_server: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Domain {
        let mut config = Config {
            domain: DOMAIN.into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.to_path_buf(),
            git_remote: remote.display().to_string(),
            git_init_remote: true,
            sites: vec!["s1".into(), "s2".into()],
            log_server: log_server.unwrap_or_default(),
            ..Config::default()
        };
        tweak(&mut config);
        let shutdown = CancellationToken::new();
        let (running, ctx) = domain_orchestrator::run_with_context(config, shutdown.clone())
            .await
            .unwrap();
        let channel = maestro_common::grpc::channel(&format!("http://{}", running.addr)).unwrap();
        Domain {
            running,
            ctx,
            client: IntentServiceClient::new(channel),
            shutdown,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(GUARD, self.running.task)
            .await
            .expect("shutdown in time")
            .unwrap();
    }

    pub async fn watch(&self) -> tonic::Streaming<pb::IntentStatus> {
        self.client
            .clone()
            .watch_intent_status(pb::WatchIntentStatusRequest {})
            .await
            .unwrap()
            .into_inner()
    }

    /// Waits until the number of finished reconcile runs reaches `n`.
    pub async fn wait_runs(&self, n: u64) {
        let mut rx = self.ctx.reconciled();
        tokio::time::timeout(GUARD, rx.wait_for(|r| *r >= n))
            .await
            .expect("reconciles in time")
            .unwrap();
    }
}

/// Reads `watch` until a status matches `pred`.
pub async fn wait_status(
    watch: &mut tonic::Streaming<pb::IntentStatus>,
    pred: impl Fn(&pb::IntentStatus) -> bool,
) -> pb::IntentStatus {
    tokio::time::timeout(GUARD, async {
        while let Some(s) = watch.next().await {
            let s = s.unwrap();
            if pred(&s) {
                return s;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("status in time")
}

/// Waits for the commit of generation `g` of intent `id`.
pub async fn wait_committed(
    watch: &mut tonic::Streaming<pb::IntentStatus>,
    id: &str,
    g: u64,
) -> pb::IntentStatus {
    wait_status(watch, |s| {
        s.intent_id == id && s.generation == g && !s.commit.is_empty()
    })
    .await
}

pub fn intent(service: &str, generation: u64, replicas: u64) -> pb::Intent {
    pb::Intent {
        id: maestro_common::ids::intent_id(service, DOMAIN),
        generation,
        service_name: service.into(),
        order_id: format!("order-{generation}"),
        order_item_id: "1".into(),
        spec_id: "demo-app".into(),
        spec_version: "1.0".into(),
        sites: vec![],
        characteristics_json: json!({"replicas": replicas, "message": "hello"}).to_string(),
        blueprint_templates_json: vec![
            json!({"kind": "ProcessDeployment", "metadata": {"name": "${service}"},
                   "spec": {"command": "/bin/sh", "args": ["-c", "echo ${message}; exec sleep 86400"], "replicas": "${replicas}"}})
            .to_string(),
        ],
        deleted: false,
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
    }
}

pub async fn apply(
    client: &mut IntentServiceClient<Channel>,
    i: pb::Intent,
) -> pb::ApplyIntentResponse {
    client
        .apply_intent(pb::ApplyIntentRequest { intent: Some(i) })
        .await
        .unwrap()
        .into_inner()
}

/// The remote branch `main`: number of commits, files (path -> content), head message.
pub struct Branch {
    pub commits: usize,
    pub files: BTreeMap<String, String>,
    pub message: String,
    pub head: String,
}

pub fn branch(remote: &Path) -> Option<Branch> {
    let repo = git2::Repository::open_bare(remote).unwrap();
    let head = repo
        .find_reference("refs/heads/main")
        .ok()?
        .peel_to_commit()
        .unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push(head.id()).unwrap();
    let commits = walk.count();
    let mut files = BTreeMap::new();
    head.tree()
        .unwrap()
        .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = repo.find_blob(entry.id()).unwrap();
                let path = format!("{dir}{}", entry.name().unwrap());
                files.insert(path, String::from_utf8(blob.content().to_vec()).unwrap());
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
    Some(Branch {
        commits,
        files,
        message: head.message().unwrap().to_string(),
        head: head.id().to_string(),
    })
}

pub fn remote_path(dir: &Path) -> PathBuf {
    dir.join("remote.git")
}

/// An in-test log server: records pushed through [`FakeLogs::push`] get sequences and are
/// served by `Subscribe` (history after the cursor, then live when `follow`).
#[derive(Clone)]
pub struct FakeLogs {
    records: Arc<Mutex<Vec<logs::Record>>>,
    live: broadcast::Sender<logs::Record>,
}

impl FakeLogs {
    pub async fn start() -> (FakeLogs, String, CancellationToken) {
        let fake = FakeLogs {
            records: Arc::default(),
            live: broadcast::channel(1024).0,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let svc = logs::log_service_server::LogServiceServer::new(fake.clone());
        let s = stop.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    s.cancelled_owned(),
                )
                .await
                .unwrap();
        });
        (fake, format!("http://{addr}"), stop)
    }

    pub fn push(&self, mut r: logs::Record) {
        let mut records = self.records.lock().unwrap();
        r.sequence = records.len() as u64 + 1;
        records.push(r.clone());
        let _ = self.live.send(r);
    }
}

pub fn status_record(
    site: &str,
    blueprint: &str,
    intent_id: &str,
    generation: u64,
    converged: bool,
) -> logs::Record {
    logs::Record {
        domain: DOMAIN.into(),
        site: site.into(),
        blueprint: blueprint.into(),
        generation,
        stream: "status".into(),
        intent_id: intent_id.into(),
        observed_at: Some(maestro_common::time::timestamp(
            maestro_common::time::now_millis(),
        )),
        body: Some(logs::record::Body::Status(logs::BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: 2,
            total_instances: 2,
            converged,
            removed: false,
            status_json: "{}".into(),
            message: if converged {
                String::new()
            } else {
                "starting".into()
            },
        })),
        ..Default::default()
    }
}

pub fn heartbeat_record(site: &str) -> logs::Record {
    logs::Record {
        domain: DOMAIN.into(),
        site: site.into(),
        stream: "heartbeat".into(),
        observed_at: Some(maestro_common::time::timestamp(
            maestro_common::time::now_millis(),
        )),
        body: Some(logs::record::Body::Heartbeat(logs::SiteHeartbeat::default())),
        ..Default::default()
    }
}

fn matches(r: &logs::Record, req: &logs::SubscribeRequest) -> bool {
    r.sequence > req.after_sequence
        && req
            .filter
            .as_ref()
            .is_none_or(|f| f.intent_ids.is_empty() || f.intent_ids.contains(&r.intent_id))
}

#[tonic::async_trait]
impl logs::log_service_server::LogService for FakeLogs {
    async fn push(
        &self,
        _: tonic::Request<logs::PushRequest>,
    ) -> Result<tonic::Response<logs::PushResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    type SubscribeStream = futures::stream::BoxStream<'static, Result<logs::Record, tonic::Status>>;

    async fn subscribe(
        &self,
        req: tonic::Request<logs::SubscribeRequest>,
    ) -> Result<tonic::Response<Self::SubscribeStream>, tonic::Status> {
        let req = req.into_inner();
        let (history, live) = {
            let records = self.records.lock().unwrap();
            (
                records
                    .iter()
                    .filter(|r| matches(r, &req))
                    .cloned()
                    .collect::<Vec<_>>(),
                self.live.subscribe(),
            )
        };
        let head = futures::stream::iter(history.into_iter().map(Ok));
        if !req.follow {
            return Ok(tonic::Response::new(head.boxed()));
        }
        let tail = tokio_stream::wrappers::BroadcastStream::new(live).filter_map(move |r| {
            let keep = r.ok().filter(|r| matches(r, &req)).map(Ok);
            async move { keep }
        });
        Ok(tonic::Response::new(head.chain(tail).boxed()))
    }

    async fn query(
        &self,
        _: tonic::Request<logs::QueryRequest>,
    ) -> Result<tonic::Response<logs::QueryResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
}
