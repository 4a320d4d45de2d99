//! `maestro.order.v1.OrderService`.

use crate::engine::Engine;
use crate::error::OrderError;
use crate::model::OrderState;
use crate::order_logs::OrderLogs;
use crate::order_watch::watch_order;
use crate::request::NewOrder;
use futures::{Stream, StreamExt};
use maestro_proto::order::v1 as pb;
use std::pin::Pin;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Default page size of ListOrders.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size of ListOrders.
pub const MAX_PAGE_SIZE: usize = 500;

/// A boxed stream of gRPC replies.
pub type ReplyStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Serves orders.
#[derive(Debug, Clone)]
pub struct OrderApi {
    engine: Engine,
    logs: OrderLogs,
}

impl OrderApi {
    /// A handler over `engine`, streaming logs through `logs`.
    pub fn new(engine: Engine, logs: OrderLogs) -> Self {
        Self { engine, logs }
    }

    fn load(&self, id: &str) -> Result<crate::model::Order, Status> {
        Ok(self
            .engine
            .store()
            .get(id)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))?)
    }
}

#[tonic::async_trait]
impl pb::order_service_server::OrderService for OrderApi {
    #[tracing::instrument(skip_all, fields(idempotency_key = %request.get_ref().idempotency_key))]
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        let new = NewOrder::try_from(request.into_inner()).map_err(OrderError::from)?;
        let created = self.engine.create_order(new).await?;
        tracing::info!(order.id = %created.order.id, created = created.created, "order accepted");
        Ok(Response::new(pb::CreateOrderResponse {
            order: Some((&created.order).into()),
            created: created.created,
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::ServiceOrder>, Status> {
        Ok(Response::new(
            (&self.load(&request.into_inner().id)?).into(),
        ))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
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
        let (orders, next) = self.engine.store().list(size, &page_token, state)?;
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.iter().map(Into::into).collect(),
            next_page_token: next,
        }))
    }

    #[tracing::instrument(skip_all, fields(order.id = %request.get_ref().id))]
    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::ServiceOrder>, Status> {
        let pb::CancelOrderRequest { id, reason } = request.into_inner();
        let order = self.engine.cancel_order(&id, &reason).await?;
        Ok(Response::new((&order).into()))
    }

    type WatchOrderStream = ReplyStream<pb::OrderEvent>;

    #[tracing::instrument(skip_all, fields(order.id = %request.get_ref().id))]
    async fn watch_order(
        &self,
        request: Request<pb::WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let id = request.into_inner().id;
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

    #[tracing::instrument(skip_all, fields(order.id = %request.get_ref().id))]
    async fn stream_order_logs(
        &self,
        request: Request<pb::StreamOrderLogsRequest>,
    ) -> Result<Response<Self::StreamOrderLogsStream>, Status> {
        let pb::StreamOrderLogsRequest { id, follow } = request.into_inner();
        let order = self.load(&id)?;
        let lines = self.logs.open(&order, follow).await?;
        Ok(Response::new(Box::pin(lines.map(|l| Ok(l.into())))))
    }
}
