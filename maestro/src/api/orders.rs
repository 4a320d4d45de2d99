//! `maestro.order.v1.OrderService`.

use crate::engine::Engine;
use crate::error::OrderError;
use crate::model::OrderState;
use crate::request::NewOrder;
use futures::{Stream, StreamExt};
use maestro_common::grpc::{MAX_MESSAGE_BYTES, channel};
use maestro_proto::intent::v1 as ipb;
use maestro_proto::order::v1 as pb;
use std::collections::BTreeMap;
use std::pin::Pin;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
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
}

impl OrderApi {
    /// A handler over `engine`.
    pub fn new(engine: Engine) -> Self {
        Self { engine }
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

    type WatchOrderStream = ReceiverStream<Result<pb::OrderEvent, Status>>;

    async fn watch_order(
        &self,
        request: Request<pb::WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let id = request.into_inner().id;
        let mut changes = self.engine.store().subscribe();
        let first = self.load(&id)?;
        let (tx, rx) = mpsc::channel(16);
        let engine = self.engine.clone();
        self.engine.tasks().spawn(async move {
            let mut last = 0;
            let mut order = Some(first);
            loop {
                if let Some(o) = order.take().filter(|o| o.revision > last) {
                    last = o.revision;
                    let fin = o.state.is_final();
                    if tx
                        .send(Ok(pb::OrderEvent {
                            order: Some((&o).into()),
                            r#final: fin,
                        }))
                        .await
                        .is_err()
                        || fin
                    {
                        return;
                    }
                }
                // Every stored revision arrives with its change, so each one is sent; only a
                // watcher that lagged behind the broadcast reads the latest back.
                tokio::select! {
                    ev = changes.recv() => match ev {
                        Ok(c) => {
                            if c.order_id == id && c.revision > last {
                                order = Some((*c.order).clone());
                            }
                        }
                        Err(RecvError::Lagged(_)) => match engine.store().get(&id) {
                            Ok(o) => order = o,
                            Err(e) => {
                                let _ = tx.send(Err(e.into())).await;
                                return;
                            }
                        },
                        Err(RecvError::Closed) => return,
                    },
                    () = tx.closed() => return,
                    () = engine.shutdown().cancelled() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type StreamOrderLogsStream = ReplyStream<pb::OrderLogRecord>;

    async fn stream_order_logs(
        &self,
        request: Request<pb::StreamOrderLogsRequest>,
    ) -> Result<Response<Self::StreamOrderLogsStream>, Status> {
        let pb::StreamOrderLogsRequest { id, follow } = request.into_inner();
        let order = self.load(&id)?;
        let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (domain, intent) in order.intent_ids() {
            let list = by_domain.entry(domain.to_string()).or_default();
            if !list.iter().any(|i| i == intent) {
                list.push(intent.to_string());
            }
        }
        let mut streams: Vec<ReplyStream<pb::OrderLogRecord>> = Vec::new();
        for (domain, intent_ids) in by_domain {
            match open_logs(&self.engine, &domain, intent_ids, follow).await {
                Ok(s) => streams.push(s),
                Err(e) => {
                    tracing::warn!(domain = %domain, error = %e, "domain logs unavailable; skipping")
                }
            }
        }
        if streams.is_empty() && !order.items.is_empty() {
            return Err(Status::unavailable(
                "no domain of the order could stream logs",
            ));
        }
        let stop = self.engine.shutdown().clone();
        let merged = futures::stream::select_all(streams).take_until(stop.cancelled_owned());
        Ok(Response::new(Box::pin(merged)))
    }
}

async fn open_logs(
    engine: &Engine,
    domain: &str,
    intent_ids: Vec<String>,
    follow: bool,
) -> Result<ReplyStream<pb::OrderLogRecord>, Status> {
    let record = engine
        .registry()
        .get(domain)?
        .ok_or_else(|| Status::unavailable(format!("domain {domain} is not registered")))?;
    let ch = channel(&record.endpoint).map_err(|e| Status::unavailable(e.to_string()))?;
    let mut client = ipb::intent_service_client::IntentServiceClient::new(ch)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let stream = client
        .stream_intent_logs(ipb::StreamIntentLogsRequest { intent_ids, follow })
        .await?
        .into_inner();
    let domain = domain.to_string();
    let mapped = stream
        .take_while(|r| {
            if let Err(e) = r {
                tracing::warn!(error = %e, "domain log stream failed");
            }
            futures::future::ready(r.is_ok())
        })
        .filter_map(move |r| {
            let out = r.ok().map(|l| {
                Ok(pb::OrderLogRecord {
                    domain: domain.clone(),
                    site: l.site,
                    blueprint: l.blueprint,
                    generation: l.generation,
                    observed_at: l.observed_at,
                    level: l.level,
                    message: l.message,
                    sequence: l.sequence,
                })
            });
            futures::future::ready(out)
        });
    Ok(Box::pin(mapped))
}
