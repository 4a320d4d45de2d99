//! An in-test log server: records pushed by the code under test (the `Push` RPC) or by the test
//! itself ([`FakeLogs::push`]) get sequences, are kept, handed to the test through [`Pushed`] and
//! served by `Subscribe` (history after the cursor, then live when following).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use futures::StreamExt;
use maestro_proto::logs::v1::log_service_server::{LogService, LogServiceServer};
use maestro_proto::logs::v1::{
    PushRequest, PushResponse, QueryRequest, QueryResponse, Record, SubscribeRequest, record,
};
use tokio::sync::{broadcast, mpsc};
use tonic::{Request, Response, Status};

use crate::grpc::TestServer;

/// The log service of the in-test log server; clones share the records.
#[derive(Clone)]
pub struct FakeLogs {
    records: Arc<Mutex<Vec<Record>>>,
    live: broadcast::Sender<Record>,
    pushed: mpsc::UnboundedSender<Record>,
    refusing: Arc<AtomicBool>,
    refused: mpsc::UnboundedSender<Vec<Record>>,
    hanging: Arc<AtomicBool>,
    hung: mpsc::UnboundedSender<Vec<Record>>,
}

impl FakeLogs {
    /// Serves a fresh log server on 127.0.0.1:0.
    pub async fn start() -> anyhow::Result<(Self, Pushed, TestServer)> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    /// Serves a fresh log server on `addr` (an address a test reserved, to bring a "down" log
    /// server up).
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<(Self, Pushed, TestServer)> {
        let (pushed, rx) = mpsc::unbounded_channel();
        let (refused, refused_rx) = mpsc::unbounded_channel();
        let (hung, hung_rx) = mpsc::unbounded_channel();
        let fake = Self {
            records: Arc::default(),
            live: broadcast::channel(1024).0,
            pushed,
            refusing: Arc::default(),
            refused,
            hanging: Arc::default(),
            hung,
        };
        let router =
            tonic::transport::Server::builder().add_service(LogServiceServer::new(fake.clone()));
        let server = TestServer::start_on(addr, router).await?;
        let pushed = Pushed {
            records: rx,
            seen: Vec::new(),
            refused: refused_rx,
            hung: hung_rx,
        };
        Ok((fake, pushed, server))
    }

    /// While `on`, every `Push` is answered `unavailable` (as by a log server that is down behind
    /// its proxy) and stores nothing; each refused batch goes to [`Pushed::refused`].
    pub fn refuse(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }

    /// While `on`, every `Push` that arrives is never answered (as by a log server whose
    /// connection died silently) and stores nothing; each such batch goes to [`Pushed::hung`].
    pub fn hang(&self, on: bool) {
        self.hanging.store(on, Ordering::SeqCst);
    }

    /// Stores `r` with the next sequence, as if a site had pushed it; returns the sequence.
    pub fn push(&self, mut r: Record) -> u64 {
        let mut records = self.records.lock().expect("records lock");
        r.sequence = records.len() as u64 + 1;
        records.push(r.clone());
        let _ = self.live.send(r.clone());
        let _ = self.pushed.send(r);
        records.len() as u64
    }
}

fn matches(r: &Record, req: &SubscribeRequest) -> bool {
    r.sequence > req.after_sequence
        && req
            .filter
            .as_ref()
            .is_none_or(|f| f.intent_ids.is_empty() || f.intent_ids.contains(&r.intent_id))
}

#[tonic::async_trait]
impl LogService for FakeLogs {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let records = request.into_inner().records;
        if self.hanging.load(Ordering::SeqCst) {
            let _ = self.hung.send(records);
            return std::future::pending().await;
        }
        if self.refusing.load(Ordering::SeqCst) {
            let _ = self.refused.send(records);
            return Err(Status::unavailable("the in-test log server refuses pushes"));
        }
        let accepted = records.len() as u32;
        let mut last_sequence = 0;
        for r in records {
            last_sequence = FakeLogs::push(self, r);
        }
        Ok(Response::new(PushResponse {
            accepted,
            duplicates: 0,
            last_sequence,
        }))
    }

    type SubscribeStream = futures::stream::BoxStream<'static, Result<Record, Status>>;

    async fn subscribe(
        &self,
        req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = req.into_inner();
        let (history, live) = {
            let records = self.records.lock().expect("records lock");
            let history: Vec<Record> = records
                .iter()
                .filter(|r| matches(r, &req))
                .cloned()
                .collect();
            (history, self.live.subscribe())
        };
        let head = futures::stream::iter(history.into_iter().map(Ok));
        if !req.follow {
            return Ok(Response::new(head.boxed()));
        }
        let tail = tokio_stream::wrappers::BroadcastStream::new(live).filter_map(move |r| {
            let keep = r.ok().filter(|r| matches(r, &req)).map(Ok);
            async move { keep }
        });
        Ok(Response::new(head.chain(tail).boxed()))
    }

    async fn query(&self, _: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        Err(Status::unimplemented(
            "the in-test log server does not query",
        ))
    }

    async fn announce_commit(
        &self,
        _: Request<maestro_proto::logs::v1::AnnounceCommitRequest>,
    ) -> Result<Response<maestro_proto::logs::v1::AnnounceCommitResponse>, Status> {
        Err(Status::unimplemented(
            "the in-test log server takes no commit notices",
        ))
    }

    type WatchCommitsStream =
        futures::stream::BoxStream<'static, Result<maestro_proto::logs::v1::CommitNotice, Status>>;

    async fn watch_commits(
        &self,
        _: Request<maestro_proto::logs::v1::WatchCommitsRequest>,
    ) -> Result<Response<Self::WatchCommitsStream>, Status> {
        Err(Status::unimplemented(
            "the in-test log server sends no commit notices",
        ))
    }
}

/// What reached the log server, as the test reads it.
pub struct Pushed {
    /// Records not yet moved to `seen`, in arrival order.
    pub records: mpsc::UnboundedReceiver<Record>,
    /// Everything read so far, in arrival order.
    pub seen: Vec<Record>,
    /// The batches refused while [`FakeLogs::refuse`] was on, in arrival order.
    pub refused: mpsc::UnboundedReceiver<Vec<Record>>,
    /// The batches left unanswered while [`FakeLogs::hang`] was on, in arrival order.
    pub hung: mpsc::UnboundedReceiver<Vec<Record>>,
}

impl Pushed {
    /// Waits (under [`crate::GUARD`]) for a record matching `pred`; records before it are kept
    /// in `seen`. A timeout lists what was received.
    pub async fn wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&Record) -> bool,
    ) -> anyhow::Result<Record> {
        let (records, seen) = (&mut self.records, &mut self.seen);
        let found = crate::within(what, crate::GUARD, async {
            loop {
                let r = records.recv().await.context("log server channel closed")?;
                seen.push(r.clone());
                if pred(&r) {
                    return Ok(r);
                }
            }
        })
        .await;
        match found {
            Ok(found) => found,
            Err(e) => bail!("{e}; received: {:#?}", summary(&self.seen)),
        }
    }

    /// A record matching `pred` among those already seen, else the next one that arrives.
    pub async fn seen_or_wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&Record) -> bool,
    ) -> anyhow::Result<Record> {
        if let Some(r) = self.seen.iter().find(|r| pred(r)) {
            return Ok(r.clone());
        }
        self.wait_for(what, pred).await
    }

    /// Moves every record that already arrived to `seen`, without waiting.
    pub fn drain(&mut self) {
        while let Ok(r) = self.records.try_recv() {
            self.seen.push(r);
        }
    }
}

/// One line per record, for failure messages.
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

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_proto::logs::v1::log_service_client::LogServiceClient;

    fn log(intent: &str, message: &str) -> Record {
        Record {
            intent_id: intent.into(),
            stream: "log".into(),
            body: Some(record::Body::Log(maestro_proto::logs::v1::LogLine {
                message: message.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn pushed_records_reach_the_test_and_subscribers() {
        let (fake, mut pushed, server) = FakeLogs::start().await.unwrap();
        let mut client = LogServiceClient::connect(server.endpoint()).await.unwrap();
        let reply = client
            .push(PushRequest {
                records: vec![log("a", "one"), log("b", "two")],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((reply.accepted, reply.last_sequence), (2, 2));
        let got = pushed
            .wait_for("two", |r| r.intent_id == "b")
            .await
            .unwrap();
        assert_eq!(got.sequence, 2);
        assert_eq!(pushed.seen.len(), 2);
        fake.push(log("a", "three"));
        let request = SubscribeRequest {
            after_sequence: 0,
            follow: false,
            filter: Some(maestro_proto::logs::v1::RecordFilter {
                intent_ids: vec!["a".into()],
                ..Default::default()
            }),
        };
        let stream = client.subscribe(request).await.unwrap().into_inner();
        let sequences: Vec<u64> =
            crate::within("the history", crate::GUARD, stream.collect::<Vec<_>>())
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap().sequence)
                .collect();
        assert_eq!(sequences, [1, 3]);
        server.stop().await.unwrap();
    }
}
