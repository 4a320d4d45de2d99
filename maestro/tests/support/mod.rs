//! Test harness: a real maestro on loopback and tiny in-test domain orchestrators.
#![allow(dead_code)]

use maestro_proto::domain::v1 as dpb;
use maestro_proto::intent::v1 as ipb;
use maestro_proto::order::v1 as pb;
use maestro_testkit::grpc::TestServer;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Deadlock guard for every wait.
pub use maestro_testkit::GUARD as WAIT;

pub const DEMO_SPEC: &str = r#"id: demo-app
name: Demo app
version: "1.0"
description: test
characteristics:
  - { name: replicas, valueType: integer, default: 1 }
  - { name: message, valueType: string, required: true }
  - { name: suffix, valueType: string, default: "x" }
blueprints:
  - kind: ProcessDeployment
    metadata: { name: "${service}-${suffix}" }
    shell: true
    spec: { command: "/bin/sh", args: ["-c", "printf '%s\\n' ${message}; exec sleep 86400"], replicas: "${replicas}" }
"#;

/// Writes the demo spec into a fresh catalog dir.
pub fn catalog_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.yaml"), DEMO_SPEC).unwrap();
    dir
}

pub fn config(data: &Path, catalog: &Path) -> maestro::Config {
    maestro::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.to_path_buf(),
        metrics_listen: None,
        health_listen: None,
        catalog_dir: catalog.to_path_buf(),
        domain_unreachable_after_ms: 60_000,
        failover_after_ms: 300_000,
        fanout_backoff_min_ms: 20,
        fanout_backoff_max_ms: 200,
        tls: maestro_common::tls::TlsSettings::insecure(),
        operator_policy: None,
    }
}

/// A running maestro with clients.
pub struct Maestro {
    pub shutdown: CancellationToken,
    pub running: maestro::Running,
    pub orders: pb::order_service_client::OrderServiceClient<Channel>,
    pub domains: dpb::domain_registry_client::DomainRegistryClient<Channel>,
    pub url: String,
}

impl Maestro {
    pub async fn start(data: &Path, catalog: &Path) -> Self {
        Self::start_with(config(data, catalog)).await
    }

    pub async fn start_with(config: maestro::Config) -> Self {
        let shutdown = CancellationToken::new();
        let running = maestro::run(config, shutdown.clone())
            .await
            .expect("maestro starts");
        let url = format!("http://{}", running.addr);
        let ch = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            shutdown,
            running,
            orders: pb::order_service_client::OrderServiceClient::new(ch.clone()),
            domains: dpb::domain_registry_client::DomainRegistryClient::new(ch),
            url,
        }
    }

    /// Cancels and waits until everything stopped.
    pub async fn stop(self) {
        self.shutdown.cancel();
        maestro_testkit::within("maestro to stop", WAIT, self.running.task)
            .await
            .unwrap()
            .unwrap();
    }

    pub async fn register(
        &mut self,
        id: &str,
        addr: std::net::SocketAddr,
        sites: &[&str],
        labels: &[(&str, &str)],
    ) {
        self.domains
            .register_domain(dpb::RegisterDomainRequest {
                id: id.into(),
                endpoint: format!("http://{addr}"),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                region: "eu".into(),
                sites: sites.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })
            .await
            .expect("register");
    }

    /// Follows WatchOrder until `done` holds for an event; returns every event seen.
    pub async fn watch_until(
        &mut self,
        id: &str,
        done: impl Fn(&pb::ServiceOrder) -> bool,
    ) -> Vec<pb::ServiceOrder> {
        let mut stream = self
            .orders
            .watch_order(pb::WatchOrderRequest { id: id.into() })
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        maestro_testkit::within(format!("order {id} to reach the condition"), WAIT, async {
            while let Some(ev) = stream.message().await.unwrap() {
                let o = ev.order.unwrap();
                let stop = done(&o);
                assert_eq!(ev.r#final, is_final(o.state), "final flag of {:?}", o.state);
                seen.push(o);
                if stop {
                    return;
                }
            }
            panic!("watch ended before the condition held: {seen:#?}");
        })
        .await
        .unwrap();
        seen
    }
}

/// The typed reason of an item (none when it has none); panics on an invalid one.
pub fn reason(item: &pb::OrderItem) -> Option<maestro_common::status::StatusReason> {
    let mut r = maestro_common::status::reasons_from_proto("reasons", item.reasons.clone())
        .expect("valid reasons");
    assert!(r.len() <= 1, "one deciding reason per item: {r:?}");
    r.pop()
}

/// The typed reasons of a domain's progress; panics on an invalid one.
pub fn domain_reasons(d: &pb::DomainProgress) -> Vec<maestro_common::status::StatusReason> {
    maestro_common::status::reasons_from_proto("reasons", d.reasons.clone()).expect("valid reasons")
}

pub fn is_final(state: i32) -> bool {
    use pb::OrderState as S;
    [
        S::Rejected,
        S::Cancelled,
        S::Completed,
        S::Failed,
        S::Partial,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

pub fn state(o: &pb::ServiceOrder) -> pb::OrderState {
    pb::OrderState::try_from(o.state).unwrap()
}

/// An order item request.
pub fn item(
    id: &str,
    action: pb::ItemAction,
    service: &str,
    domains: &[&str],
    chars: &[(&str, prost_types::Value)],
) -> pb::OrderItemSpec {
    pb::OrderItemSpec {
        rollout_json: String::new(),
        id: id.into(),
        action: action as i32,
        service: Some(pb::Service {
            name: service.into(),
            service_specification: Some(pb::ServiceSpecRef {
                id: "demo-app".into(),
                ..Default::default()
            }),
            service_characteristic: chars
                .iter()
                .map(|(n, v)| pb::Characteristic {
                    name: n.to_string(),
                    value: Some(v.clone()),
                    value_type: String::new(),
                })
                .collect(),
        }),
        placement: Some(pb::Placement {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        }),
    }
}

pub fn text(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue(s.into())),
    }
}

pub fn number(n: f64) -> prost_types::Value {
    prost_types::Value {
        kind: Some(prost_types::value::Kind::NumberValue(n)),
    }
}

pub fn order(key: &str, items: Vec<pb::OrderItemSpec>) -> pb::CreateOrderRequest {
    pb::CreateOrderRequest {
        idempotency_key: key.into(),
        order: Some(pb::OrderSpec {
            items,
            ..Default::default()
        }),
    }
}

/// What a fake domain received.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Apply(Box<ipb::Intent>),
    Delete(ipb::DeleteIntentRequest),
}

#[derive(Clone)]
struct FakeIntents {
    received: mpsc::UnboundedSender<Received>,
    gate: watch::Receiver<bool>,
    statuses: Arc<Mutex<BTreeMap<String, ipb::IntentStatus>>>,
    changes: broadcast::Sender<ipb::IntentStatus>,
    /// Ends every status stream (the domain goes dark).
    stop: CancellationToken,
    /// Intents of services named `forgotten*`: the domain answers NotFound to their deletion,
    /// as a domain that lost its data would.
    forgotten: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

#[tonic::async_trait]
impl ipb::intent_service_server::IntentService for FakeIntents {
    async fn apply_intent(
        &self,
        r: Request<ipb::ApplyIntentRequest>,
    ) -> Result<Response<ipb::ApplyIntentResponse>, Status> {
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
        let intent = r.into_inner().intent.unwrap();
        if intent.service_name.starts_with("reject") {
            return Err(Status::invalid_argument("blueprints[0]: no such kind"));
        }
        let generation = intent.generation;
        if intent.service_name.starts_with("forgotten") && !intent.deleted {
            self.forgotten.lock().unwrap().insert(intent.id.clone());
        }
        let _ = self.received.send(Received::Apply(Box::new(intent)));
        Ok(Response::new(ipb::ApplyIntentResponse {
            stored_generation: generation,
            changed: true,
            stored_step: 0,
        }))
    }

    async fn delete_intent(
        &self,
        r: Request<ipb::DeleteIntentRequest>,
    ) -> Result<Response<ipb::ApplyIntentResponse>, Status> {
        let r = r.into_inner();
        let generation = r.generation;
        if self.forgotten.lock().unwrap().contains(&r.id) {
            return Err(Status::not_found(format!("intent {} not found", r.id)));
        }
        let _ = self.received.send(Received::Delete(r));
        Ok(Response::new(ipb::ApplyIntentResponse {
            stored_generation: generation,
            changed: true,
            stored_step: 0,
        }))
    }

    async fn get_intent(
        &self,
        _r: Request<ipb::GetIntentRequest>,
    ) -> Result<Response<ipb::IntentRecord>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_intents(
        &self,
        _r: Request<ipb::ListIntentsRequest>,
    ) -> Result<Response<ipb::ListIntentsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    type WatchIntentStatusStream = ReceiverStream<Result<ipb::IntentStatus, Status>>;

    async fn watch_intent_status(
        &self,
        _r: Request<ipb::WatchIntentStatusRequest>,
    ) -> Result<Response<Self::WatchIntentStatusStream>, Status> {
        let mut rx = self.changes.subscribe();
        let now: Vec<_> = self.statuses.lock().unwrap().values().cloned().collect();
        let (tx, out) = mpsc::channel(64);
        let stop = self.stop.clone();
        tokio::spawn(async move {
            for s in now {
                if tx.send(Ok(s)).await.is_err() {
                    return;
                }
            }
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => return,
                    n = rx.recv() => n,
                };
                let Ok(s) = next else { return };
                if tx.send(Ok(s)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(out)))
    }

    type StreamIntentLogsStream = ReceiverStream<Result<ipb::IntentLogRecord, Status>>;

    async fn plan_intent(
        &self,
        _r: Request<ipb::ApplyIntentRequest>,
    ) -> Result<Response<ipb::IntentPlan>, Status> {
        Err(Status::unimplemented("the fake domain does not plan"))
    }

    async fn stream_intent_logs(
        &self,
        r: Request<ipb::StreamIntentLogsRequest>,
    ) -> Result<Response<Self::StreamIntentLogsStream>, Status> {
        let (tx, out) = mpsc::channel(64);
        for (n, id) in r.into_inner().intent_ids.into_iter().enumerate() {
            let rec = ipb::IntentLogRecord {
                intent_id: id.clone(),
                site: "s1".into(),
                blueprint: "web".into(),
                generation: 1,
                level: "info".into(),
                message: format!("hello from {id}"),
                sequence: n as u64 + 1,
                ..Default::default()
            };
            tx.try_send(Ok(rec)).unwrap();
        }
        Ok(Response::new(ReceiverStream::new(out)))
    }
}

/// A fake domain orchestrator on loopback.
pub struct FakeDomain {
    pub name: String,
    pub addr: std::net::SocketAddr,
    pub received: mpsc::UnboundedReceiver<Received>,
    gate: watch::Sender<bool>,
    statuses: Arc<Mutex<BTreeMap<String, ipb::IntentStatus>>>,
    changes: broadcast::Sender<ipb::IntentStatus>,
    server: TestServer,
}

impl FakeDomain {
    /// Starts on a fresh port; applies go through at once unless `gated`.
    pub async fn start(name: &str, gated: bool) -> Self {
        Self::on(name, free_port(), gated).await
    }

    /// Starts on `addr` (an address a test reserved, e.g. to bring a "down" domain back).
    pub async fn on(name: &str, addr: std::net::SocketAddr, gated: bool) -> Self {
        let (tx, received) = mpsc::unbounded_channel();
        let (gate, gate_rx) = watch::channel(!gated);
        let statuses = Arc::new(Mutex::new(BTreeMap::new()));
        let changes = broadcast::channel(64).0;
        let stop = CancellationToken::new();
        let svc = FakeIntents {
            received: tx,
            gate: gate_rx,
            statuses: statuses.clone(),
            changes: changes.clone(),
            stop: stop.clone(),
            forgotten: Arc::default(),
        };
        let router = tonic::transport::Server::builder()
            .add_service(ipb::intent_service_server::IntentServiceServer::new(svc));
        let server = TestServer::start_on(addr, router).await.unwrap();
        // The service's own streams end with the server.
        let server_stop = server.stop_token();
        tokio::spawn(async move {
            server_stop.cancelled().await;
            stop.cancel();
        });
        Self {
            name: name.into(),
            addr: server.addr,
            received,
            gate,
            statuses,
            changes,
            server,
        }
    }

    /// Stops serving (every status stream ends, connections are refused) and returns the
    /// address once the port is free again.
    pub async fn go_dark(self) -> std::net::SocketAddr {
        let addr = self.addr;
        self.server.stop().await.expect("fake domain stops");
        addr
    }

    /// Publishes `s` as it is (kept for new watchers, sent to current ones).
    pub fn push(&self, s: ipb::IntentStatus) {
        self.statuses
            .lock()
            .unwrap()
            .insert(s.intent_id.clone(), s.clone());
        let _ = self.changes.send(s);
    }

    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Publishes an intent status (kept for new watchers, sent to current ones).
    pub fn push_status(&self, intent_id: &str, generation: u64, state: ipb::ServiceState) {
        let s = ipb::IntentStatus {
            intent_id: intent_id.into(),
            domain: self.name.clone(),
            generation,
            observed_generation: generation,
            state: state as i32,
            ready: 1,
            total: 1,
            updated_at: Some(maestro_common::time::timestamp(
                maestro_common::time::now_millis(),
            )),
            ..Default::default()
        };
        self.statuses
            .lock()
            .unwrap()
            .insert(intent_id.into(), s.clone());
        let _ = self.changes.send(s);
    }

    /// The next thing this domain received.
    pub async fn next(&mut self) -> Received {
        let what = format!("domain {} to receive something", self.name);
        maestro_testkit::within(what, WAIT, self.received.recv())
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn next_apply(&mut self) -> ipb::Intent {
        match self.next().await {
            Received::Apply(i) => *i,
            other => panic!("expected an apply, got {other:?}"),
        }
    }
}

/// Heartbeats for `ids` every `period` until the returned token is cancelled (live domains).
pub fn heartbeat_every(m: &Maestro, ids: &[&str], period: Duration) -> CancellationToken {
    let stop = CancellationToken::new();
    let (s, mut client) = (stop.clone(), m.domains.clone());
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                () = s.cancelled() => return,
                _ = tick.tick() => {}
            }
            for id in &ids {
                let _ = client
                    .heartbeat(dpb::HeartbeatRequest {
                        id: id.clone(),
                        capacity: None,
                    })
                    .await;
            }
        }
    });
    stop
}

/// A port nobody listens on yet (bound, then released).
pub use maestro_testkit::net::free_addr as free_port;
