//! `maestro.order.v1.OrderService`.

use crate::engine::{Engine, PendingChange, WrittenOrder};
use crate::error::OrderError;
use crate::model::OrderState;
use crate::order_logs::OrderLogs;
use crate::order_watch::watch_order;
use crate::request::{NewOrder, check_cancel_reason, check_order_id};
use futures::{Stream, StreamExt};
use maestro_common::access::Access;
use maestro_common::audit::{self, AuditLog, who_of};
use maestro_common::authz::{Call, Target, Verb};
use maestro_common::identity::PeerIdentity;
use maestro_common::telemetry::context as trace;
use maestro_proto::order::v1 as pb;
use prost::Message;
use std::pin::Pin;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

/// Default page size of ListOrders.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size of ListOrders.
pub const MAX_PAGE_SIZE: usize = 500;
/// Most bytes of orders in one ListOrders reply: half the message limit every client accepts,
/// so that a page always decodes, however large its orders are.
pub const MAX_PAGE_BYTES: usize = maestro_common::grpc::MAX_MESSAGE_BYTES / 2;

/// Tag and length prefix of one order in a ListOrders reply, at most.
const LIST_ENTRY_OVERHEAD: usize = 16;

/// A boxed stream of gRPC replies.
pub type ReplyStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Serves orders.
#[derive(Debug, Clone)]
pub struct OrderApi {
    engine: Engine,
    logs: OrderLogs,
    access: Access,
    audit: AuditLog,
    planner: Option<crate::dry_run::Planner>,
}

impl OrderApi {
    /// A handler over `engine`, streaming logs through `logs`; `access` decides which operator
    /// may do what, on which domains; `audit` records every CreateOrder and CancelOrder, also
    /// the refused ones, before they are answered.
    pub fn new(engine: Engine, logs: OrderLogs, access: Access, audit: AuditLog) -> Self {
        Self {
            engine,
            logs,
            access,
            audit,
            planner: None,
        }
    }

    /// Serves PlanOrder through `planner` (without one, PlanOrder is UNIMPLEMENTED).
    pub fn with_planner(mut self, planner: crate::dry_run::Planner) -> Self {
        self.planner = Some(planner);
        self
    }

    /// CreateOrder checked and its order written, not durable yet; `caller_trace` is the
    /// caller's valid `traceparent`.
    fn write(
        &self,
        request: Request<pb::CreateOrderRequest>,
        caller_trace: Option<String>,
    ) -> Result<WrittenOrder, Status> {
        let caller = self.operator(&request, Verb::Write)?;
        let new = NewOrder::try_from(request.into_inner()).map_err(OrderError::from)?;
        Ok(self.write_placed(caller.as_ref(), new, caller_trace)?)
    }

    /// The order CreateOrder or RollbackOrder (of order `rollback_of`) wrote, made durable,
    /// delivered and answered.
    async fn accept(
        &self,
        written: WrittenOrder,
        rollback_of: Option<&str>,
    ) -> Result<pb::CreateOrderResponse, Status> {
        let created = self.engine.acknowledge_order(written).await?;
        if created.created {
            crate::metrics::order_created();
        }
        let order_id = &created.order.id;
        match rollback_of {
            None => {
                tracing::info!(order.id = %order_id, created = created.created, "order accepted")
            }
            Some(of) => {
                tracing::info!(order.id = %order_id, created = created.created, rollback_of = %of, "rollback order accepted")
            }
        }
        Ok(pb::CreateOrderResponse {
            order: Some((&created.order).into()),
            created: created.created,
        })
    }

    /// Places `new` for `caller` (who ordered it, the trace it joins, the scope it may act on),
    /// as CreateOrder and RollbackOrder do, up to the write: [`Self::accept`] does the rest
    /// once the call's audit entry is appended.
    fn write_placed(
        &self,
        caller: Option<&PeerIdentity>,
        mut new: NewOrder,
        caller_trace: Option<String>,
    ) -> Result<WrittenOrder, OrderError> {
        new.ordered_by = self.orderer(caller);
        new.traceparent = trace::current().or(caller_trace);
        let admit = |order: &crate::model::Order| {
            self.may(caller, Verb::Write, order)
                .map_err(OrderError::Refused)
        };
        self.engine.write_order_as(new, admit)
    }

    /// CancelOrder checked and its change written, not durable yet.
    fn write_cancel(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<PendingChange, Status> {
        let caller = self.operator(&request, Verb::Write)?;
        let pb::CancelOrderRequest { id, reason } = request.into_inner();
        check_cancel_reason(&reason).map_err(OrderError::from)?;
        self.may(caller.as_ref(), Verb::Write, &self.load(&id)?)?;
        Ok(self.engine.write_cancel(&id, &reason)?)
    }

    /// Commits a change a call wrote (CancelOrder, ControlRollout) and answers with the order.
    async fn commit(&self, pending: PendingChange) -> Result<pb::ServiceOrder, Status> {
        let order = self.engine.commit_change(pending).await?;
        Ok((&order).into())
    }

    /// RollbackOrder checked and its rollback order written, not durable yet.
    fn write_rollback(
        &self,
        request: Request<pb::RollbackOrderRequest>,
        caller_trace: Option<String>,
    ) -> Result<WrittenOrder, Status> {
        let caller = self.operator(&request, Verb::Write)?;
        let pb::RollbackOrderRequest {
            id,
            idempotency_key,
        } = request.into_inner();
        crate::request::check_idempotency_key(&idempotency_key).map_err(OrderError::from)?;
        self.may(caller.as_ref(), Verb::Write, &self.load(&id)?)?;
        let new = self.engine.rollback_request(&id, &idempotency_key)?;
        Ok(self.write_placed(caller.as_ref(), new, caller_trace)?)
    }

    /// ControlRollout checked and its command written with the step it caused, not durable yet.
    async fn write_control(
        &self,
        request: Request<pb::ControlRolloutRequest>,
    ) -> Result<PendingChange, Status> {
        let caller = self.operator(&request, Verb::Write)?;
        let pb::ControlRolloutRequest {
            id,
            item_id,
            command,
        } = request.into_inner();
        let command = match pb::RolloutCommand::try_from(command) {
            Ok(pb::RolloutCommand::Pause) => crate::rollout::Command::Pause,
            Ok(pb::RolloutCommand::Resume) => crate::rollout::Command::Resume,
            Ok(pb::RolloutCommand::Abort) => crate::rollout::Command::Abort,
            _ => {
                let e =
                    maestro_common::FieldError::new("command", "must be pause, resume or abort");
                return Err(OrderError::from(e).into());
            }
        };
        self.may(caller.as_ref(), Verb::Write, &self.load(&id)?)?;
        let item = (!item_id.is_empty()).then_some(item_id.as_str());
        Ok(self.engine.write_control(&id, item, command).await?)
    }

    /// The domains `order` acts on, with their regions.
    fn scope(&self, order: &crate::model::Order) -> Vec<(String, String)> {
        order_domains(order)
            .into_iter()
            .map(|d| {
                let region = self
                    .engine
                    .registry()
                    .get(&d)
                    .ok()
                    .flatten()
                    .map(|r| r.region)
                    .unwrap_or_default();
                (d, region)
            })
            .collect()
    }

    /// Checks `verb` on the domains `order` targets for `caller` (`None`: nothing is checked).
    fn may(
        &self,
        caller: Option<&PeerIdentity>,
        verb: Verb,
        order: &crate::model::Order,
    ) -> Result<(), Status> {
        let Some(caller) = caller else {
            return Ok(());
        };
        let scope = self.scope(order);
        let targets: Vec<Target<'_>> = scope
            .iter()
            .map(|(domain, region)| Target { domain, region })
            .collect();
        let call = Call::Operate {
            verb,
            targets: &targets,
        };
        self.access.allow(caller, &call)
    }

    /// Whether `caller` may read `order`, without logging a refusal (for filtering lists).
    fn may_quietly(&self, caller: &PeerIdentity, order: &crate::model::Order) -> bool {
        let scope = self.scope(order);
        let targets: Vec<Target<'_>> = scope
            .iter()
            .map(|(domain, region)| Target { domain, region })
            .collect();
        let call = Call::Operate {
            verb: Verb::Read,
            targets: &targets,
        };
        self.access.allows(caller, &call)
    }

    /// The operator calling, after checking that its role allows `verb` at all.
    fn operator<T>(
        &self,
        request: &Request<T>,
        verb: Verb,
    ) -> Result<Option<PeerIdentity>, Status> {
        self.access
            .check(request, &Call::Operate { verb, targets: &[] })
    }

    /// Who `caller` is, as an order records it.
    fn orderer(&self, caller: Option<&PeerIdentity>) -> crate::model::Orderer {
        let Some(caller) = caller else {
            return crate::model::Orderer::default();
        };
        crate::model::Orderer {
            identity: caller.to_string(),
            organisation: self
                .access
                .operators()
                .and_then(|p| p.organisation_of(caller))
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// CreateOrder within its span, recorded in the audit log.
    async fn create_order_traced(
        &self,
        request: Request<pb::CreateOrderRequest>,
        caller_trace: Option<String>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        let who = who_of(&self.access, &request);
        let key = audit::Target::new("idempotency_key", &request.get_ref().idempotency_key);
        let written = self.write(request, caller_trace);
        let mut targets = Vec::new();
        if let Ok(written) = &written {
            let order = written.order();
            targets.push(audit::Target::new("order", &order.id));
            let mut domains: Vec<&str> = order
                .items
                .iter()
                .flat_map(|i| i.domains.iter().map(|d| d.domain.as_str()))
                .collect();
            domains.sort_unstable();
            domains.dedup();
            targets.extend(domains.into_iter().map(|d| audit::Target::new("domain", d)));
        }
        targets.push(key);
        // The entry is appended before the order is flushed: one flush for both.
        self.audit
            .recorded_after_write(&who, "CreateOrder", targets, written, |w| {
                self.accept(w, None)
            })
            .await
            .map(Response::new)
    }

    fn load(&self, id: &str) -> Result<crate::model::Order, Status> {
        check_order_id(id).map_err(OrderError::from)?;
        Ok(self
            .engine
            .store()
            .get(id)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?)
    }
}

#[tonic::async_trait]
impl pb::order_service_server::OrderService for OrderApi {
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        // The order's trace: a child of the caller's (`traceparent` metadata) when it sent one.
        let span = tracing::info_span!(
            "order.create",
            idempotency_key = %maestro_common::text::for_log(&request.get_ref().idempotency_key)
        );
        let caller_trace = trace::extract(&request);
        if let Some(tp) = &caller_trace {
            trace::set_parent(&span, tp);
        }
        self.create_order_traced(request, caller_trace)
            .instrument(span)
            .await
    }

    #[tracing::instrument(skip_all, fields(order.id = %maestro_common::text::for_log(&request.get_ref().id)))]
    async fn control_rollout(
        &self,
        request: Request<pb::ControlRolloutRequest>,
    ) -> Result<Response<pb::ServiceOrder>, Status> {
        let who = who_of(&self.access, &request);
        let r = request.get_ref();
        let mut targets = vec![audit::Target::new("order", &r.id)];
        if !r.item_id.is_empty() {
            targets.push(audit::Target::new("item", &r.item_id));
        }
        let written = self.write_control(request).await;
        // The entry is appended before the change is flushed: one flush for both.
        self.audit
            .recorded_after_write(&who, "ControlRollout", targets, written, |p| self.commit(p))
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(order.id = %maestro_common::text::for_log(&request.get_ref().id)))]
    async fn rollback_order(
        &self,
        request: Request<pb::RollbackOrderRequest>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        let who = who_of(&self.access, &request);
        let r = request.get_ref();
        let targets = vec![
            audit::Target::new("order", &r.id),
            audit::Target::new("idempotency_key", &r.idempotency_key),
        ];
        let rollback_of = r.id.clone();
        let caller_trace = trace::extract(&request);
        let written = self.write_rollback(request, caller_trace);
        self.audit
            .recorded_after_write(&who, "RollbackOrder", targets, written, |w| {
                self.accept(w, Some(&rollback_of))
            })
            .await
            .map(Response::new)
    }

    async fn plan_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::OrderPlan>, Status> {
        // Planning an order is allowed to whoever may place it, on the domains it targets.
        let caller = self.operator(&request, Verb::Write)?;
        let mut new = NewOrder::try_from(request.into_inner()).map_err(OrderError::from)?;
        new.ordered_by = self.orderer(caller.as_ref());
        let planner = self
            .planner
            .as_ref()
            .ok_or_else(|| Status::unimplemented("order planning is not configured"))?;
        let planned = self.engine.plan_only(&new)?;
        self.may(caller.as_ref(), Verb::Write, &planned.order)?;
        Ok(Response::new(planner.plan(&planned).await))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::ServiceOrder>, Status> {
        let caller = self.operator(&request, Verb::Read)?;
        let order = self.load(&request.into_inner().id)?;
        self.may(caller.as_ref(), Verb::Read, &order)?;
        Ok(Response::new((&order).into()))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let caller = self.operator(&request, Verb::Read)?;
        let pb::ListOrdersRequest {
            page_size,
            page_token,
            state,
        } = request.into_inner();
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let state = match state {
            0 => None,
            s => Some(
                OrderState::from_proto(s)
                    .ok_or_else(|| Status::invalid_argument(format!("state: unknown value {s}")))?,
            ),
        };
        let mut bytes = 0usize;
        let mut fits = |order: &crate::model::Order| {
            bytes += pb::ServiceOrder::from(order).encoded_len() + LIST_ENTRY_OVERHEAD;
            bytes <= MAX_PAGE_BYTES
        };
        let (orders, next) = self
            .engine
            .store()
            .list(size, &page_token, state, &mut fits)?;
        // Orders outside the caller's scope are left out of the page.
        let visible = orders.iter().filter(|o| match &caller {
            Some(c) => self.may_quietly(c, o),
            None => true,
        });
        Ok(Response::new(pb::ListOrdersResponse {
            orders: visible.map(Into::into).collect(),
            next_page_token: next,
        }))
    }

    #[tracing::instrument(skip_all, fields(order.id = %maestro_common::text::for_log(&request.get_ref().id)))]
    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::ServiceOrder>, Status> {
        let who = who_of(&self.access, &request);
        let targets = vec![audit::Target::new("order", &request.get_ref().id)];
        let written = self.write_cancel(request);
        // The entry is appended before the change is flushed: one flush for both.
        self.audit
            .recorded_after_write(&who, "CancelOrder", targets, written, |p| self.commit(p))
            .await
            .map(Response::new)
    }

    type WatchOrderStream = ReplyStream<pb::OrderEvent>;

    #[tracing::instrument(skip_all, fields(order.id = %maestro_common::text::for_log(&request.get_ref().id)))]
    async fn watch_order(
        &self,
        request: Request<pb::WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let caller = self.operator(&request, Verb::Read)?;
        let id = request.into_inner().id;
        self.may(caller.as_ref(), Verb::Read, &self.load(&id)?)?;
        let engine = &self.engine;
        let revisions = watch_order(
            engine.store().clone(),
            &id,
            engine.shutdown().clone(),
            engine.tasks(),
        )?;
        let events = ReceiverStream::new(revisions).map(|revision| {
            let order = revision?;
            Ok(pb::OrderEvent {
                order: Some((&order).into()),
                r#final: order.state.is_final(),
            })
        });
        Ok(Response::new(Box::pin(events)))
    }

    type StreamOrderLogsStream = ReplyStream<pb::OrderLogRecord>;

    #[tracing::instrument(skip_all, fields(order.id = %maestro_common::text::for_log(&request.get_ref().id)))]
    async fn stream_order_logs(
        &self,
        request: Request<pb::StreamOrderLogsRequest>,
    ) -> Result<Response<Self::StreamOrderLogsStream>, Status> {
        let caller = self.operator(&request, Verb::Read)?;
        let pb::StreamOrderLogsRequest { id, follow } = request.into_inner();
        let order = self.load(&id)?;
        self.may(caller.as_ref(), Verb::Read, &order)?;
        let lines = self.logs.open(&order, follow).await?;
        Ok(Response::new(Box::pin(lines.map(|l| Ok(l.into())))))
    }
}

/// The domains an order acts on, each once.
fn order_domains(order: &crate::model::Order) -> Vec<String> {
    let mut domains: Vec<String> = order
        .items
        .iter()
        .flat_map(|i| i.domains.iter().map(|d| d.domain.clone()))
        .collect();
    domains.sort();
    domains.dedup();
    domains
}
