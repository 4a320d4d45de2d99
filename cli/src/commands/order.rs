//! `order create|get|list|watch|cancel`, and [`follow`], which the dev demo reuses.

use crate::client::MaestroClient;
use crate::error::{CliError, CliResult};
use crate::order_file::{self, OrderRequest};
use crate::output::{self, Output};
use crate::progress::{LiveBlock, ProgressTracker};
use crate::states;
use crate::view::OrderView;
use futures::StreamExt;
use maestro_common::backoff::Backoff;
use maestro_common::telemetry::context as trace;
use maestro_proto::order::v1 as pb;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Page size when listing orders.
const PAGE_SIZE: u32 = 100;
/// How often a broken watch stream is reopened before giving up.
const WATCH_RECONNECTS: u32 = 5;
/// While waiting, the progress is re-rendered at least this often (ages keep growing).
const RENDER_EVERY: Duration = Duration::from_secs(1);

/// Submits an already parsed order; returns the order and whether it was newly created.
pub async fn submit(
    client: &MaestroClient,
    req: &OrderRequest,
) -> CliResult<(pb::ServiceOrder, bool)> {
    let mut request = tonic::Request::new(pb::CreateOrderRequest {
        idempotency_key: req.idempotency_key.clone(),
        order: Some(req.spec.clone()),
    });
    // The order's trace starts here: this span when spans are exported, else a new trace id.
    let span = tracing::info_span!("order.create");
    {
        let _entered = span.enter();
        trace::inject(&mut request, Some(&trace::fresh()));
    }
    let mut orders = client.orders();
    let call = client.call(orders.create_order(request));
    let resp = tracing::Instrument::instrument(call, span).await?;
    let order = resp
        .order
        .ok_or_else(|| CliError::Failed("maestro returned no order".into()))?;
    Ok((order, resp.created))
}

/// `order plan -f FILE`: what the order would change, without placing it. Exits 0 whatever the
/// plan says; a domain that would refuse or could not be asked is shown with the reason.
pub async fn plan(client: &MaestroClient, file: &Path, out: Output) -> CliResult<()> {
    let req = order_file::load(file).map_err(|e| CliError::Invalid(e.to_string()))?;
    let request = pb::CreateOrderRequest {
        idempotency_key: req.idempotency_key.clone(),
        order: Some(req.spec.clone()),
    };
    let mut orders = client.orders();
    let plan = client.call(orders.plan_order(request)).await?;
    let view = crate::plan_view::OrderPlanView::from(&plan);
    super::emit(&crate::plan_view::render(&view, out));
    Ok(())
}

/// `order create -f FILE [--wait]`. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the order's trace
/// starts with a span of `maestroctl`, exported when the command ends.
pub async fn create(client: &MaestroClient, file: &Path, wait: bool, out: Output) -> CliResult<()> {
    let _telemetry = crate::run::otlp_endpoint()
        .map(|endpoint| maestro_common::telemetry::init("maestroctl", Some(&endpoint)));
    let req = order_file::load(file).map_err(|e| CliError::Invalid(e.to_string()))?;
    let (order, created) = submit(client, &req).await?;
    if created {
        super::note(&format!("order {} created", order.id));
    } else {
        super::note(&format!(
            "order {} already exists for idempotency key {:?}; not created again",
            order.id, req.idempotency_key
        ));
    }
    if !wait {
        super::emit(&output::order(&OrderView::from(&order), out));
        return Ok(());
    }
    if out == Output::Table {
        super::emit(&output::order(&OrderView::from(&order), out));
    }
    let final_order = watch_to_end(client, &order.id, out).await?;
    if out != Output::Table {
        super::emit(&output::order(&OrderView::from(&final_order), out));
    }
    outcome(&final_order)
}

/// `order rollback ID [--idempotency-key KEY] [--wait]`: a new order that returns every
/// service order ID changed to what it was before. The key defaults to one derived from ID, so
/// running the command again never takes anything back twice.
pub async fn rollback(
    client: &MaestroClient,
    id: &str,
    key: Option<&str>,
    wait: bool,
    out: Output,
) -> CliResult<()> {
    let idempotency_key = key.map_or_else(|| format!("rollback-of-{id}"), str::to_string);
    let req = pb::RollbackOrderRequest {
        id: id.to_string(),
        idempotency_key: idempotency_key.clone(),
    };
    let resp = client.call(client.orders().rollback_order(req)).await?;
    let order = resp.order.unwrap_or_default();
    if resp.created {
        super::note(&format!(
            "order {} created: it rolls back order {id}",
            order.id
        ));
    } else {
        super::note(&format!(
            "order {} already rolls back order {id} (idempotency key {idempotency_key:?}); not created again",
            order.id
        ));
    }
    if !wait {
        super::emit(&output::order(&OrderView::from(&order), out));
        return Ok(());
    }
    if out == Output::Table {
        super::emit(&output::order(&OrderView::from(&order), out));
    }
    let final_order = watch_to_end(client, &order.id, out).await?;
    if out != Output::Table {
        super::emit(&output::order(&OrderView::from(&final_order), out));
    }
    outcome(&final_order)
}

/// `order get ID`.
pub async fn get(client: &MaestroClient, id: &str, out: Output) -> CliResult<()> {
    let order = client
        .call(
            client
                .orders()
                .get_order(pb::GetOrderRequest { id: id.to_string() }),
        )
        .await?;
    super::emit(&output::order(&OrderView::from(&order), out));
    Ok(())
}

/// `order list [--state S] [--limit N]`.
pub async fn list(
    client: &MaestroClient,
    state: Option<pb::OrderState>,
    limit: u32,
    out: Output,
) -> CliResult<()> {
    let mut views = Vec::new();
    let mut token = String::new();
    while (views.len() as u32) < limit {
        let req = pb::ListOrdersRequest {
            page_size: PAGE_SIZE.min(limit - views.len() as u32),
            page_token: token.clone(),
            state: state.map_or(0, |s| s as i32),
        };
        let resp = client.call(client.orders().list_orders(req)).await?;
        views.extend(resp.orders.iter().map(OrderView::from));
        // A page may be short or even empty (it ends at a size limit, and orders outside the
        // caller's scope are left out): only the token says whether more follow.
        if resp.next_page_token.is_empty() || resp.next_page_token == token {
            break;
        }
        token = resp.next_page_token;
    }
    views.truncate(limit as usize);
    super::emit(&output::orders(&views, out));
    Ok(())
}

/// `order cancel ID`.
pub async fn cancel(client: &MaestroClient, id: &str, reason: &str, out: Output) -> CliResult<()> {
    let req = pb::CancelOrderRequest {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    let order = client.call(client.orders().cancel_order(req)).await?;
    super::emit(&output::order(&OrderView::from(&order), out));
    Ok(())
}

/// `order watch ID`: progress lines until final; Ok only when completed.
pub async fn watch(client: &MaestroClient, id: &str, out: Output) -> CliResult<()> {
    let order = watch_to_end(client, id, out).await?;
    if out != Output::Table {
        super::emit(&output::order(&OrderView::from(&order), out));
    }
    outcome(&order)
}

/// Progress goes to stdout for tables and to stderr when stdout carries JSON/YAML. On a
/// terminal every line is redrawn in place each second; otherwise lines that changed are printed.
async fn watch_to_end(
    client: &MaestroClient,
    id: &str,
    out: Output,
) -> CliResult<pb::ServiceOrder> {
    let to_stdout = out == Output::Table;
    let write = |text: &str| {
        if to_stdout {
            super::emit(text)
        } else {
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
        }
    };
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    if terminal {
        let mut block = LiveBlock::new();
        let mut show =
            |o: &pb::ServiceOrder| write(&block.frame(o, maestro_common::time::now_millis()));
        return follow_with(client, id, None, &mut show).await;
    }
    let start = Instant::now();
    let mut print = |line: &str| {
        write(&format!(
            "[{:>6.1}s] {line}\n",
            start.elapsed().as_secs_f64()
        ))
    };
    follow(client, id, None, &mut print).await
}

/// Follows an order through `WatchOrder`, calling `on_line` for every progress line that changed
/// (re-rendered at least every second, so ages of silent entities advance), until the order is
/// final (returned) or `deadline` passes. A broken stream is reopened a few times.
pub async fn follow(
    client: &MaestroClient,
    id: &str,
    deadline: Option<Instant>,
    on_line: &mut dyn FnMut(&str),
) -> CliResult<pb::ServiceOrder> {
    let mut tracker = ProgressTracker::new();
    let mut show = |o: &pb::ServiceOrder| {
        for line in tracker.update(o, maestro_common::time::now_millis()) {
            on_line(&line);
        }
    };
    follow_with(client, id, deadline, &mut show).await
}

/// Follows an order through `WatchOrder`, calling `show` with the latest order on every event
/// and at least every second while waiting, until it is final or `deadline` passes.
pub async fn follow_with(
    client: &MaestroClient,
    id: &str,
    deadline: Option<Instant>,
    show: &mut dyn FnMut(&pb::ServiceOrder),
) -> CliResult<pb::ServiceOrder> {
    let mut latest: Option<pb::ServiceOrder> = None;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(3));
    let mut last_error = String::new();
    for _ in 0..=WATCH_RECONNECTS {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            break;
        }
        let run = follow_once(client, id, &mut latest, show);
        let result = match remaining {
            Some(r) => tokio::time::timeout(r, run).await.unwrap_or(Ok(None)),
            None => run.await,
        };
        match result {
            Ok(Some(order)) => return Ok(order),
            Ok(None) => last_error = "the watch stream ended before the order was final".into(),
            Err(e @ (CliError::NotFound(_) | CliError::Invalid(_) | CliError::Config(_))) => {
                return Err(e);
            }
            Err(e) => last_error = e.to_string(),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        wait_rendering(backoff.next_delay(), latest.as_ref(), show).await;
    }
    if let Some(d) = deadline
        && Instant::now() >= d
    {
        return Err(CliError::Unavailable(format!(
            "order {id} was not final before the deadline"
        )));
    }
    Err(CliError::Unavailable(format!(
        "watching order {id}: {last_error}"
    )))
}

/// Sleeps `delay` while still re-rendering the last known order every second.
async fn wait_rendering(
    delay: Duration,
    latest: Option<&pb::ServiceOrder>,
    show: &mut dyn FnMut(&pb::ServiceOrder),
) {
    let until = tokio::time::Instant::now() + delay;
    while tokio::time::Instant::now() < until {
        tokio::time::sleep_until(until.min(tokio::time::Instant::now() + RENDER_EVERY)).await;
        if let Some(o) = latest {
            show(o);
        }
    }
}

async fn follow_once(
    client: &MaestroClient,
    id: &str,
    latest: &mut Option<pb::ServiceOrder>,
    show: &mut dyn FnMut(&pb::ServiceOrder),
) -> CliResult<Option<pb::ServiceOrder>> {
    let mut stream = client
        .call(
            client
                .orders()
                .watch_order(pb::WatchOrderRequest { id: id.to_string() }),
        )
        .await?;
    let mut render = tokio::time::interval(RENDER_EVERY);
    render.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = render.tick() => {
                if let Some(o) = latest.as_ref() {
                    show(o);
                }
                continue;
            }
        };
        let Some(event) = event else { return Ok(None) };
        let event = event.map_err(|s| CliError::from_status("watch stream", &s))?;
        let Some(order) = event.order else { continue };
        show(&order);
        render.reset();
        let fin = event.r#final || states::is_final(order.state);
        *latest = Some(order);
        if fin {
            return Ok(latest.clone());
        }
    }
}

/// Ok when the order completed; otherwise "operation failed" naming the state and reasons.
pub fn outcome(order: &pb::ServiceOrder) -> CliResult<()> {
    if order.state == pb::OrderState::Completed as i32 {
        return Ok(());
    }
    let now = maestro_common::time::now_millis();
    let reasons: Vec<String> = order
        .items
        .iter()
        .filter(|i| !i.reason.is_empty() || !i.reasons.is_empty())
        .map(|i| {
            let typed = output::reason::typed(&i.reasons);
            let why = output::reason::shown(typed.as_deref(), &i.reason, now);
            format!("item {}: {why}", i.id)
        })
        .collect();
    let mut text = format!(
        "order {} ended {}",
        order.id,
        states::order_state(order.state)
    );
    if !reasons.is_empty() {
        text.push_str(&format!(" ({})", reasons.join("; ")));
    }
    Err(CliError::Failed(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_is_ok_only_for_completed() {
        let mut o = pb::ServiceOrder {
            id: "o1".into(),
            state: pb::OrderState::Completed as i32,
            ..Default::default()
        };
        assert!(outcome(&o).is_ok());
        o.state = pb::OrderState::Partial as i32;
        let rejected = maestro_common::status::StatusReason::Rejected {
            domain: "south".into(),
            reason: "no such kind".into(),
        };
        o.items.push(pb::OrderItem {
            id: "2".into(),
            reason: "text from the server".into(),
            reasons: vec![rejected.into()],
            ..Default::default()
        });
        let e = outcome(&o).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.to_string(),
            "order o1 ended partial (item 2: domain south rejected the intent: no such kind)",
            "rendered from the typed reason"
        );
        o.state = pb::OrderState::Cancelled as i32;
        assert_eq!(outcome(&o).unwrap_err().exit_code(), 1);
    }
}
