//! Test fixtures: a domain orchestrator on loopback with a real bare Git remote in a tempdir,
//! the test kit's in-test log server, and Git inspection. Waiting, Git reading and the servers
//! come from `maestro-testkit`.
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
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use maestro_testkit::GUARD;
use maestro_testkit::grpc::TestServer;
use maestro_testkit::logs::FakeLogs;
use maestro_testkit::within;

/// The domain of every test.
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
            tls: maestro_common::tls::TlsSettings::insecure(),
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
        within("the domain to shut down", GUARD, self.running.task)
            .await
            .unwrap()
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
        within(
            format!("{n} reconcile runs"),
            GUARD,
            rx.wait_for(|r| *r >= n),
        )
        .await
        .unwrap()
        .unwrap();
    }
}

/// Reads `watch` until a status matches `pred`.
pub async fn wait_status(
    watch: &mut tonic::Streaming<pb::IntentStatus>,
    pred: impl Fn(&pb::IntentStatus) -> bool,
) -> pb::IntentStatus {
    let status = async {
        while let Some(s) = watch.next().await {
            let s = s.unwrap();
            if pred(&s) {
                return s;
            }
        }
        panic!("watch ended");
    };
    within("a matching intent status", GUARD, status)
        .await
        .unwrap()
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
            json!({"kind": "ProcessDeployment", "shell": true, "metadata": {"name": "${service}"},
                   "spec": {"command": "/bin/sh", "args": ["-c", "printf '%s\\n' ${message}; exec sleep 86400"], "replicas": "${replicas}"}})
            .to_string(),
        ],
        deleted: false,
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        organisation: String::new(),
        rollout: None,
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
    /// Commits leading to the tip.
    pub commits: usize,
    /// Every file of the tip.
    pub files: BTreeMap<String, String>,
    /// The tip's commit message.
    pub message: String,
    /// The tip's commit id.
    pub head: String,
}

/// Reads the remote branch `main` (None while it does not exist).
pub fn branch(remote: &Path) -> Option<Branch> {
    let b = maestro_testkit::git::Branch::read(remote, "main").unwrap()?;
    Some(Branch {
        commits: b.commits(),
        message: b.message().to_string(),
        head: b.head,
        files: b.files,
    })
}

pub fn remote_path(dir: &Path) -> PathBuf {
    dir.join("remote.git")
}

/// An in-test log server (the test kit's): records pushed through [`FakeLogs::push`] get
/// sequences and are served by `Subscribe`. Returns it, its URL and the server (stops on drop).
pub async fn fake_logs() -> (FakeLogs, String, TestServer) {
    let (fake, _, server) = FakeLogs::start().await.unwrap();
    let url = server.endpoint();
    (fake, url, server)
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
