//! gRPC `maestro.intent.v1.IntentService`: thin handlers that convert and call [`IntentApi`].

use crate::api::{IntentApi, Written};
use crate::intent::{Intent, IntentDeletion};
use crate::source::StatusSource;
use futures::StreamExt;
use maestro_common::FieldError;
use maestro_common::access::Access;
use maestro_common::audit::{AuditLog, Target, who_of};
use maestro_common::authz::Call;
use maestro_common::telemetry::context as trace;
use maestro_proto::intent::v1 as pb;
use maestro_proto::logs::v1::{Record, record::Body};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

/// Most intents one StreamIntentLogs call may name.
pub const MAX_LOG_INTENTS: usize = 1024;
/// Buffered messages per server stream.
const STREAM_BUFFER: usize = 64;

/// The gRPC service.
pub struct IntentGrpc {
    api: IntentApi,
    outgoing: Arc<crate::disclosure::Outgoing>,
    logs: Option<Arc<dyn StatusSource>>,
    access: Access,
    audit: AuditLog,
    shutdown: CancellationToken,
}

impl IntentGrpc {
    /// Handlers over `api`; `logs` serves `StreamIntentLogs`; `access` decides who may call
    /// (only maestro); `audit` records every ApplyIntent and DeleteIntent, also refused ones,
    /// before they are answered; streams end on `shutdown`.
    pub fn new(
        api: IntentApi,
        logs: Option<Arc<dyn StatusSource>>,
        access: Access,
        audit: AuditLog,
        shutdown: CancellationToken,
    ) -> Self {
        let ctx = api.context();
        let outgoing = Arc::new(crate::disclosure::Outgoing::new(
            ctx.policy.disclosure.clone(),
            ctx.store.clone(),
        ));
        Self {
            api,
            outgoing,
            logs,
            access,
            audit,
            shutdown,
        }
    }

    /// An ApplyIntent checked, converted and written, not flushed yet.
    fn write(&self, req: Request<pb::ApplyIntentRequest>) -> Result<Written, Status> {
        self.may_write(&req)?;
        let raw = req
            .into_inner()
            .intent
            .ok_or_else(|| FieldError::new("intent", "required"))?;
        let intent = Intent::try_from(raw).map_err(|e| e.within("intent"))?;
        Ok(self.api.write(intent)?)
    }

    /// A DeleteIntent checked, converted and written, not flushed yet.
    fn write_deletion(&self, req: Request<pb::DeleteIntentRequest>) -> Result<Written, Status> {
        self.may_write(&req)?;
        let deletion = IntentDeletion::try_from(req.into_inner())?;
        Ok(self.api.write_deletion(deletion)?)
    }

    /// Flushes what `written` wrote and answers it.
    async fn acknowledge(&self, written: Written) -> Result<pb::ApplyIntentResponse, Status> {
        let out = self.api.acknowledge(written).await?;
        Ok(pb::ApplyIntentResponse {
            stored_generation: out.stored_generation,
            changed: out.changed,
            stored_step: out.stored_step,
        })
    }

    fn may_write<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let domain = self.api.context().domain.as_str();
        self.access
            .check(req, &Call::WriteIntents { domain })
            .map(|_| ())
    }

    fn may_read<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let domain = self.api.context().domain.as_str();
        self.access
            .check(req, &Call::ReadIntents { domain })
            .map(|_| ())
    }
}

type BoxStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::intent_service_server::IntentService for IntentGrpc {
    async fn apply_intent(
        &self,
        req: Request<pb::ApplyIntentRequest>,
    ) -> Result<Response<pb::ApplyIntentResponse>, Status> {
        let who = who_of(&self.access, &req);
        let targets = match &req.get_ref().intent {
            Some(i) => {
                let mut t = intent_targets(&i.id, i.generation, &i.order_id);
                if let Some(r) = &i.rollout {
                    t.push(Target::new("rollout_step", &r.step.to_string()));
                }
                t
            }
            None => Vec::new(),
        };
        // The order's trace: maestro's delivery span from the metadata, else the intent's own.
        let span = tracing::info_span!("intent.apply");
        let parent = trace::extract(&req)
            .or_else(|| req.get_ref().intent.as_ref().map(|i| i.traceparent.clone()));
        if let Some(tp) = parent {
            trace::set_parent(&span, &tp);
        }
        // The audit entry is appended before the change is flushed: one flush for both.
        let written = span.in_scope(|| self.write(req));
        self.audit
            .recorded_after_write(&who, "ApplyIntent", targets, written, |w| {
                self.acknowledge(w).instrument(span)
            })
            .await
            .map(Response::new)
    }

    async fn delete_intent(
        &self,
        req: Request<pb::DeleteIntentRequest>,
    ) -> Result<Response<pb::ApplyIntentResponse>, Status> {
        let who = who_of(&self.access, &req);
        let r = req.get_ref();
        let targets = intent_targets(&r.id, r.generation, &r.order_id);
        let written = self.write_deletion(req);
        self.audit
            .recorded_after_write(&who, "DeleteIntent", targets, written, |w| {
                self.acknowledge(w)
            })
            .await
            .map(Response::new)
    }

    async fn get_intent(
        &self,
        req: Request<pb::GetIntentRequest>,
    ) -> Result<Response<pb::IntentRecord>, Status> {
        self.may_read(&req)?;
        let mut record = self.api.get(&req.into_inner().id)?;
        record.status = record.status.map(|s| self.outgoing.status(s));
        Ok(Response::new(record))
    }

    async fn list_intents(
        &self,
        req: Request<pb::ListIntentsRequest>,
    ) -> Result<Response<pb::ListIntentsResponse>, Status> {
        self.may_read(&req)?;
        let pb::ListIntentsRequest {
            page_size,
            page_token,
        } = req.into_inner();
        let (mut intents, next_page_token) = self.api.list(page_size, &page_token)?;
        for record in &mut intents {
            record.status = record.status.take().map(|s| self.outgoing.status(s));
        }
        Ok(Response::new(pb::ListIntentsResponse {
            intents,
            next_page_token,
        }))
    }

    type WatchIntentStatusStream = BoxStream<pb::IntentStatus>;

    async fn watch_intent_status(
        &self,
        req: Request<pb::WatchIntentStatusRequest>,
    ) -> Result<Response<Self::WatchIntentStatusStream>, Status> {
        self.may_read(&req)?;
        let hub = self.api.context().hub.clone();
        let mut changes = hub.subscribe();
        let snapshot = hub.snapshot();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let shutdown = self.shutdown.clone();
        let outgoing = self.outgoing.clone();
        tokio::spawn(async move {
            let mut batch = snapshot;
            loop {
                for s in batch.drain(..) {
                    if tx.send(Ok(outgoing.status(s))).await.is_err() {
                        return; // the client left
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tx.closed() => return,
                    next = changes.recv() => match next {
                        Ok(s) => batch.push(s),
                        Err(broadcast::error::RecvError::Lagged(_)) => batch = hub.snapshot(),
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx).boxed()))
    }

    async fn plan_intent(
        &self,
        req: Request<pb::ApplyIntentRequest>,
    ) -> Result<Response<pb::IntentPlan>, Status> {
        // A plan reveals what the domain holds and would accept: maestro's, like reading.
        self.may_read(&req)?;
        let raw = req
            .into_inner()
            .intent
            .ok_or_else(|| FieldError::new("intent", "required"))?;
        let intent = Intent::try_from(raw).map_err(|e| e.within("intent"))?;
        let now = maestro_common::time::now_millis();
        let plan = crate::plan::plan(self.api.context(), &intent, now).map_err(|e| match e {
            crate::plan::PlanError::Invalid(f) => Status::from(f),
            crate::plan::PlanError::Store(s) => Status::from(crate::api::ApiError::Store(s)),
        })?;
        Ok(Response::new(plan_to_proto(plan)))
    }

    type StreamIntentLogsStream = BoxStream<pb::IntentLogRecord>;

    async fn stream_intent_logs(
        &self,
        req: Request<pb::StreamIntentLogsRequest>,
    ) -> Result<Response<Self::StreamIntentLogsStream>, Status> {
        self.may_read(&req)?;
        let pb::StreamIntentLogsRequest { intent_ids, follow } = req.into_inner();
        if intent_ids.len() > MAX_LOG_INTENTS {
            return Err(FieldError::new(
                "intent_ids",
                format!("{} ids, at most {MAX_LOG_INTENTS}", intent_ids.len()),
            )
            .into());
        }
        for (i, id) in intent_ids.iter().enumerate() {
            uuid::Uuid::parse_str(id)
                .map_err(|_| FieldError::new(format!("intent_ids[{i}]"), "must be a UUID"))?;
        }
        let source = self
            .logs
            .clone()
            .ok_or_else(|| Status::unavailable("no log server configured"))?;
        let mut records = source.subscribe(0, follow, intent_ids).await?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let shutdown = self.shutdown.clone();
        let outgoing = self.outgoing.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tx.closed() => return,
                    n = records.next() => n,
                };
                let item = match next {
                    None => return,
                    Some(Err(e)) => Err(e),
                    Some(Ok(r)) => match to_intent_log(r) {
                        Some(l) if outgoing.logs(&l.intent_id) => Ok(l),
                        _ => continue,
                    },
                };
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx).boxed()))
    }
}

/// What an intent call acts on, as the request names it: the intent, its generation and the
/// order (when given).
fn intent_targets(id: &str, generation: u64, order_id: &str) -> Vec<Target> {
    let mut targets = vec![
        Target::new("intent", id),
        Target::new("generation", &generation.to_string()),
    ];
    if !order_id.is_empty() {
        targets.push(Target::new("order", order_id));
    }
    targets
}

/// Maps a log-server record to an intent log record; heartbeats and empty records map to none.
pub fn to_intent_log(r: Record) -> Option<pb::IntentLogRecord> {
    let (level, message) = match r.body? {
        Body::Log(l) => (l.level, l.message),
        Body::Status(s) => {
            let text = format!(
                "{} ready {}/{}{}{}{}",
                s.kind,
                s.ready_instances,
                s.total_instances,
                if s.converged { ", converged" } else { "" },
                if s.removed { ", removed" } else { "" },
                if s.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", s.message)
                },
            );
            ("status".to_string(), text)
        }
        Body::Heartbeat(_) => return None,
    };
    Some(pb::IntentLogRecord {
        intent_id: r.intent_id,
        site: r.site,
        blueprint: r.blueprint,
        generation: r.generation,
        observed_at: r.observed_at,
        level,
        message,
        sequence: r.sequence,
    })
}

/// The proto form of a plan.
fn plan_to_proto(plan: crate::plan::IntentPlan) -> pb::IntentPlan {
    use crate::plan::Action;
    let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
    pb::IntentPlan {
        changes: plan
            .changes
            .into_iter()
            .map(|c| pb::BlueprintChange {
                site: c.site,
                kind: c.kind,
                blueprint: c.blueprint,
                action: match c.action {
                    Action::Add => pb::ChangeAction::Add,
                    Action::Change => pb::ChangeAction::Change,
                    Action::Remove => pb::ChangeAction::Remove,
                } as i32,
                fields: c
                    .fields
                    .into_iter()
                    .map(|f| pb::FieldChange {
                        path: f.path,
                        before_json: json(f.before),
                        after_json: json(f.after),
                    })
                    .collect(),
            })
            .collect(),
        refusal: plan.refusal.map(|r| r.to_string()).unwrap_or_default(),
        held_until: plan.held_until_ms.map(maestro_common::time::timestamp),
    }
}
