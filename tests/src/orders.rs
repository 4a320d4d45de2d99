//! Building orders and waiting on them through maestro's gRPC API.

use crate::api::MaestroApi;
use anyhow::{Context, bail};
use maestro_common::backoff::Backoff;
use maestro_proto::domain::v1::{
    DomainState, ListDomainsRequest, domain_registry_client::DomainRegistryClient,
};
use maestro_proto::order::v1::{
    Characteristic, CreateOrderRequest, ItemAction, OrderItemSpec, OrderSpec, OrderState,
    Placement, Service, ServiceOrder, ServiceSpecRef, WatchOrderRequest,
    order_service_client::OrderServiceClient,
};
use maestro_testkit::{until, within};
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// A client of maestro's OrderService.
pub fn order_client(maestro: &MaestroApi) -> anyhow::Result<OrderServiceClient<Channel>> {
    Ok(OrderServiceClient::new(maestro.channel()?))
}

/// A one-item order of the `demo-app` service.
pub fn demo_order(
    action: ItemAction,
    service: &str,
    message: &str,
    replicas: i64,
    domains: &[&str],
) -> OrderSpec {
    let chars = [
        ("message", serde_json::json!(message)),
        ("replicas", serde_json::json!(replicas)),
    ];
    service_order("demo-app", action, service, &chars, domains)
}

/// A one-item order of catalog entry `spec_id` for `service` on `domains`; a delete carries no
/// characteristics.
pub fn service_order(
    spec_id: &str,
    action: ItemAction,
    service: &str,
    chars: &[(&str, serde_json::Value)],
    domains: &[&str],
) -> OrderSpec {
    let service_characteristic = if action == ItemAction::Delete {
        Vec::new()
    } else {
        chars
            .iter()
            .map(|(n, v)| Characteristic {
                name: (*n).into(),
                value: Some(maestro_common::json::to_proto_value(v)),
                value_type: String::new(),
            })
            .collect()
    };
    OrderSpec {
        external_id: format!("e2e-{service}"),
        description: format!("{action:?} {service}"),
        category: String::new(),
        priority: 0,
        items: vec![OrderItemSpec {
            rollout_json: String::new(),
            id: "1".into(),
            action: action as i32,
            service: Some(Service {
                name: service.into(),
                service_specification: Some(ServiceSpecRef {
                    id: spec_id.into(),
                    ..Default::default()
                }),
                service_characteristic,
            }),
            placement: Some(Placement {
                domains: domains.iter().map(|d| (*d).to_string()).collect(),
                ..Default::default()
            }),
        }],
    }
}

/// Creates an order and returns it.
pub async fn create(
    client: &mut OrderServiceClient<Channel>,
    key: &str,
    spec: OrderSpec,
) -> anyhow::Result<ServiceOrder> {
    let reply = client
        .create_order(CreateOrderRequest {
            idempotency_key: key.into(),
            order: Some(spec),
        })
        .await
        .context("CreateOrder")?
        .into_inner();
    reply.order.context("CreateOrder returned no order")
}

/// Watches an order until it is final; returns the final order and every order state seen, in order
/// (consecutive repeats collapsed). Reconnects with backoff if the stream breaks (a maestro
/// restart).
pub async fn watch_until_final(
    maestro: &MaestroApi,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<(ServiceOrder, Vec<OrderState>)> {
    let mut seen: Vec<OrderState> = Vec::new();
    let watch = async {
        let never = CancellationToken::new();
        let mut reconnect = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            let stream = match order_client(maestro) {
                Ok(mut client) => {
                    client
                        .watch_order(WatchOrderRequest { id: id.into() })
                        .await
                }
                Err(e) => Err(tonic::Status::unavailable(e.to_string())),
            };
            let Ok(stream) = stream else {
                reconnect.wait(&never).await;
                continue;
            };
            reconnect.reset();
            let mut stream = stream.into_inner();
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { break };
                let Some(order) = ev.order else { continue };
                let state = order.state();
                if seen.last() != Some(&state) {
                    seen.push(state);
                }
                if ev.r#final || is_final(state) {
                    return order;
                }
            }
        }
    };
    match within(format!("order {id} to be final"), timeout, watch).await {
        Ok(order) => Ok((order, seen)),
        Err(e) => bail!("{e}; states seen: {seen:?}"),
    }
}

/// True for the states an order never leaves.
pub fn is_final(s: OrderState) -> bool {
    matches!(
        s,
        OrderState::Completed
            | OrderState::Failed
            | OrderState::Partial
            | OrderState::Cancelled
            | OrderState::Rejected
    )
}

/// Waits until maestro lists `expected` domains as READY (the registry has no watch API: it is
/// polled).
pub async fn wait_domains_ready(
    maestro: &MaestroApi,
    expected: &[&str],
    timeout: Duration,
) -> anyhow::Result<()> {
    until(
        format!("domains {expected:?} to be ready"),
        timeout,
        async || {
            let Ok(ch) = maestro.channel() else {
                return Ok(None);
            };
            let Ok(r) = DomainRegistryClient::new(ch)
                .list_domains(ListDomainsRequest {})
                .await
            else {
                return Ok(None);
            };
            let ready: Vec<String> = r
                .into_inner()
                .domains
                .into_iter()
                .filter(|d| d.state() == DomainState::Ready)
                .map(|d| d.id)
                .collect();
            Ok(expected
                .iter()
                .all(|e| ready.iter().any(|r| r == e))
                .then_some(()))
        },
    )
    .await
}

/// Reads an order once.
pub async fn get(
    client: &mut OrderServiceClient<Channel>,
    id: &str,
) -> anyhow::Result<ServiceOrder> {
    let reply = client
        .get_order(maestro_proto::order::v1::GetOrderRequest { id: id.into() })
        .await
        .context("GetOrder")?;
    Ok(reply.into_inner())
}

/// Reads an order until `done(order)` holds (GetOrder has no long-poll: it is polled); returns
/// that order.
pub async fn get_until(
    client: &mut OrderServiceClient<Channel>,
    id: &str,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&ServiceOrder) -> bool,
) -> anyhow::Result<ServiceOrder> {
    let mut last = None;
    let found = until(format!("order {id}: {what}"), timeout, async || {
        let order = get(client, id).await?;
        if done(&order) {
            return Ok(Some(order));
        }
        last = Some(order);
        Ok(None)
    })
    .await;
    found.map_err(|e| anyhow::anyhow!("{e}; last read: {last:#?}"))
}
