//! Shared harness of the contract tests: a real server on 127.0.0.1:0 with sled in a temp dir,
//! reached through a real tonic client. Waits come from `maestro-testkit`.
#![allow(dead_code)] // each test binary uses a different part

use futures::StreamExt;
use log_server::Config;
use maestro_proto::logs::v1::{self as proto, log_service_client::LogServiceClient};
pub use maestro_testkit::GUARD;
use maestro_testkit::within;
use std::path::Path;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use tonic::transport::Channel;

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// The config of a test server of domain `north` with its data in `dir`.
pub fn config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        domain: "north".into(),
        tls: maestro_common::tls::TlsSettings::insecure(),
        ..Config::default()
    }
}

impl Server {
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(config(dir)).await
    }

    pub async fn start_with(config: Config) -> Self {
        let shutdown = CancellationToken::new();
        let running = log_server::run(config, shutdown.clone())
            .await
            .expect("log server starts");
        Self {
            addr: running.addr,
            shutdown,
            task: running.task,
        }
    }

    pub fn client(&self) -> LogServiceClient<Channel> {
        let channel = maestro_common::grpc::channel(&format!("http://{}", self.addr)).unwrap();
        LogServiceClient::new(channel)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the server to stop", GUARD, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

pub fn log(site: &str, sender_sequence: u64, intent: &str) -> proto::Record {
    proto::Record {
        site: site.into(),
        blueprint: "web".into(),
        generation: 1,
        stream: "log".into(),
        sender_sequence,
        intent_id: intent.into(),
        order_id: "o1".into(),
        body: Some(proto::record::Body::Log(proto::LogLine {
            level: "info".into(),
            message: format!("line {sender_sequence}"),
            source: "p1".into(),
        })),
        ..Default::default()
    }
}

pub fn logs(site: &str, range: std::ops::RangeInclusive<u64>) -> Vec<proto::Record> {
    range.map(|i| log(site, i, "i1")).collect()
}

pub async fn push(
    client: &mut LogServiceClient<Channel>,
    records: Vec<proto::Record>,
) -> proto::PushResponse {
    client
        .push(proto::PushRequest { records })
        .await
        .expect("push accepted")
        .into_inner()
}

pub async fn subscribe(
    client: &mut LogServiceClient<Channel>,
    after_sequence: u64,
    follow: bool,
    filter: Option<proto::RecordFilter>,
) -> Streaming<proto::Record> {
    client
        .subscribe(proto::SubscribeRequest {
            after_sequence,
            follow,
            filter,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Reads exactly `n` records, failing if they do not arrive in time.
pub async fn take(stream: &mut Streaming<proto::Record>, n: usize) -> Vec<proto::Record> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = within(
            format!("record {} of {n}", out.len() + 1),
            GUARD,
            stream.next(),
        )
        .await
        .unwrap();
        out.push(next.expect("stream still open").expect("record, not error"));
    }
    out
}

/// Reads a non-following stream to its end.
pub async fn drain(mut stream: Streaming<proto::Record>) -> Vec<proto::Record> {
    let all = async {
        let mut out = Vec::new();
        while let Some(r) = stream.next().await {
            out.push(r.expect("record, not error"));
        }
        out
    };
    within("the stream to end", GUARD, all).await.unwrap()
}

pub fn seqs(records: &[proto::Record]) -> Vec<u64> {
    records.iter().map(|r| r.sequence).collect()
}

pub async fn everything(client: &mut LogServiceClient<Channel>) -> Vec<proto::Record> {
    drain(subscribe(client, 0, false, None).await).await
}
