//! The dev demo: wait for the domains, submit `examples/orders/demo.yaml`, follow it to the end.

use super::Federation;
use crate::client::MaestroClient;
use crate::commands::order::{follow, outcome, submit};
use crate::error::{CliError, CliResult};
use crate::order_file::{self, OrderRequest};
use maestro_common::time::millis;
use maestro_proto::domain::v1::{DomainState, ListDomainsRequest};
use std::time::{Duration, Instant};

/// The demo order, embedded.
pub const DEMO_ORDER: &str = include_str!("../../../examples/orders/demo.yaml");

/// Interval between registry polls while waiting for domains.
const REGISTRY_POLL: Duration = Duration::from_millis(200);

/// What the demo achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOutcome {
    /// The order id.
    pub order_id: String,
    /// From the order's creation to its completion (maestro's timestamps when present).
    pub order_to_completed: Duration,
}

/// The demo order for a federation with `domains`: the embedded file as is when it names only
/// existing domains; otherwise its items are placed on `domains` (and the key says so).
pub fn demo_request(domains: &[String]) -> CliResult<OrderRequest> {
    let mut req = order_file::parse("examples/orders/demo.yaml", DEMO_ORDER.as_bytes(), false)
        .map_err(|e| CliError::Invalid(format!("embedded demo order: {e}")))?;
    let fits = req.spec.items.iter().all(|item| {
        item.placement
            .as_ref()
            .is_some_and(|p| !p.domains.is_empty() && p.domains.iter().all(|d| domains.contains(d)))
    });
    if !fits {
        for item in &mut req.spec.items {
            let placement = item.placement.get_or_insert_with(Default::default);
            placement.domains = domains.to_vec();
            placement.domain_selector.clear();
        }
        req.idempotency_key = format!("{}-{}", req.idempotency_key, domains.join("-"));
        req.idempotency_key
            .truncate(order_file::MAX_IDEMPOTENCY_KEY_LEN);
    }
    Ok(req)
}

/// Polls maestro's registry until every domain in `ids` is registered and ready, or `deadline`.
pub async fn wait_for_domains(
    client: &MaestroClient,
    ids: &[String],
    deadline: Instant,
) -> CliResult<()> {
    loop {
        let missing: Vec<String> = match client
            .call(client.domains().list_domains(ListDomainsRequest {}))
            .await
        {
            Ok(resp) => ids
                .iter()
                .filter(|id| {
                    !resp
                        .domains
                        .iter()
                        .any(|d| &d.id == *id && d.state == DomainState::Ready as i32)
                })
                .cloned()
                .collect(),
            Err(e @ CliError::Unavailable(_)) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "registry not answering yet");
                ids.to_vec()
            }
            Err(e) => return Err(e),
        };
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CliError::Unavailable(format!(
                "domains not ready in time: {}",
                missing.join(", ")
            )));
        }
        tokio::time::sleep(REGISTRY_POLL).await;
    }
}

/// Runs the demo against `fed` within `timeout`, reporting progress through `on_line`.
/// Ok only when the order completed.
pub async fn run_demo(
    fed: &Federation,
    timeout: Duration,
    on_line: &mut dyn FnMut(&str),
) -> CliResult<DemoOutcome> {
    let start = Instant::now();
    let deadline = start + timeout;
    let client = MaestroClient::new(&fed.client_settings())?;
    let ids: Vec<String> = fed.domains.iter().map(|d| d.id.clone()).collect();
    on_line(&format!(
        "waiting for domains {} to register",
        ids.join(", ")
    ));
    wait_for_domains(&client, &ids, deadline).await?;
    on_line(&format!(
        "[{:>6.1}s] domains ready",
        start.elapsed().as_secs_f64()
    ));
    let req = demo_request(&ids)?;
    let (order, created) = submit(&client, &req).await?;
    let submitted = Instant::now();
    on_line(&format!(
        "[{:>6.1}s] order {} {}",
        start.elapsed().as_secs_f64(),
        order.id,
        if created {
            "created"
        } else {
            "already existed (same idempotency key)"
        }
    ));
    let mut print =
        |line: &str| on_line(&format!("[{:>6.1}s] {line}", start.elapsed().as_secs_f64()));
    let final_order = follow(&client, &order.id, Some(deadline), &mut print)
        .await
        .map_err(|e| match e {
            CliError::Unavailable(m) if Instant::now() >= deadline => {
                CliError::Unavailable(format!("demo timed out after {}s: {m}", timeout.as_secs()))
            }
            other => other,
        })?;
    outcome(&final_order)?;
    let (from, to) = (
        millis(final_order.order_date.as_ref()),
        millis(final_order.completion_date.as_ref()),
    );
    let order_to_completed = if from > 0 && to >= from {
        Duration::from_millis((to - from) as u64)
    } else {
        submitted.elapsed()
    };
    Ok(DemoOutcome {
        order_id: final_order.id,
        order_to_completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_order_is_valid_and_adapts_to_the_domains() {
        let two = demo_request(&["north".into(), "south".into()]).unwrap();
        let placement = two.spec.items[0].placement.as_ref().unwrap();
        assert_eq!(placement.domains, vec!["north", "south"]);
        let one = demo_request(&["north".into()]).unwrap();
        assert_eq!(
            one.spec.items[0].placement.as_ref().unwrap().domains,
            vec!["north"]
        );
        assert_ne!(one.idempotency_key, two.idempotency_key);
        let four: Vec<String> = (0..4).map(super::super::domain_name).collect();
        assert_eq!(
            demo_request(&four).unwrap().idempotency_key,
            two.idempotency_key
        );
    }

    #[test]
    fn example_orders_parse() {
        for (name, text) in [
            ("demo.yaml", DEMO_ORDER),
            (
                "modify.yaml",
                include_str!("../../../examples/orders/modify.yaml"),
            ),
            (
                "delete.yaml",
                include_str!("../../../examples/orders/delete.yaml"),
            ),
        ] {
            let req = order_file::parse(name, text.as_bytes(), false)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                req.spec.items[0].service.as_ref().unwrap().name,
                "hello",
                "{name}"
            );
        }
    }

    #[test]
    fn gateway_example_order_parses() {
        let text = include_str!("../../../examples/orders/gateway-config.yaml");
        let req = order_file::parse("gateway-config.yaml", text.as_bytes(), false).unwrap();
        let service = req.spec.items[0].service.as_ref().unwrap();
        assert_eq!(service.name, "gw-main");
        assert_eq!(
            service.service_specification.as_ref().unwrap().id,
            "gateway-config"
        );
        assert_eq!(service.service_characteristic.len(), 2);
    }
}
