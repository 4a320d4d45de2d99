//! The probe: `site-1`'s status changes timed to the domain's intent status and to maestro's
//! `WatchOrder`.

use crate::sites::{Site, report};
use crate::{DOMAIN, PROBE, SERVICE, WAIT};
use anyhow::{Context, bail};
use maestro_cli::client::MaestroClient;
use maestro_cli::dev::pki::DevTls;
use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_proto::intent::v1::WatchIntentStatusRequest;
use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
use maestro_proto::logs::v1::PushRequest;
use maestro_proto::order::v1::{ServiceOrder, WatchOrderRequest};
use maestro_tests::sitebench::{ms, percentile};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

/// The probe's ready count in an order's first item, if shown.
pub(crate) fn order_ready(order: &ServiceOrder) -> Option<u32> {
    let domain = order.items.first()?.domains.first()?;
    domain
        .sites
        .iter()
        .find(|s| s.site == PROBE)
        .map(|s| s.ready)
}

/// Arrivals of the probe's ready count on a stream.
pub(crate) type Arrivals = mpsc::UnboundedReceiver<(Instant, u32)>;

/// Waits for an arrival showing `want`; returns when it arrived.
pub(crate) async fn arrival(rx: &mut Arrivals, want: u32, what: &str) -> anyhow::Result<Instant> {
    let wait = async {
        loop {
            match rx.recv().await {
                Some((at, ready)) if ready == want => return Ok(at),
                Some(_) => {}
                None => bail!("{what} ended"),
            }
        }
    };
    maestro_testkit::within(format!("{what} showing {PROBE} ready = {want}"), WAIT, wait).await?
}

/// The probe's samples: push → the domain's intent status, push → maestro's WatchOrder.
#[derive(Default)]
pub(crate) struct Probe {
    pub(crate) domain: Vec<Duration>,
    pub(crate) order: Vec<Duration>,
}

/// Pushes `site-1`'s status changes until `samples` were taken or `until`, timing each to both
/// streams.
pub(crate) async fn probe(
    site: &mut Site,
    order_id: &str,
    streams: &mut (Arrivals, Arrivals),
    samples: usize,
    until: Option<Instant>,
) -> anyhow::Result<Probe> {
    let mut out = Probe::default();
    let mut converged = false;
    for _ in 0..samples {
        if until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        while streams.0.try_recv().is_ok() {}
        while streams.1.try_recv().is_ok() {}
        converged = !converged;
        let mut records = report(site, order_id, converged);
        records.truncate(1);
        let t0 = Instant::now();
        site.client
            .push(PushRequest { records })
            .await
            .context("probe push")?;
        let want = u32::from(converged);
        let at_domain = arrival(&mut streams.0, want, "the domain's WatchIntentStatus").await?;
        let at_order = arrival(&mut streams.1, want, "maestro's WatchOrder").await?;
        out.domain.push(at_domain - t0);
        out.order.push(at_order - t0);
    }
    out.domain.sort();
    out.order.sort();
    Ok(out)
}

pub(crate) fn print_probe(label: &str, p: &Probe) {
    for (what, v) in [
        ("push -> domain intent status", &p.domain),
        ("push -> WatchOrder", &p.order),
    ] {
        println!(
            "  {label}: {what}: {} samples, median {}  p90 {}  p99 {}  max {}",
            v.len(),
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.9)),
            ms(percentile(v, 0.99)),
            ms(percentile(v, 1.0)),
        );
    }
}

/// Follows the domain's intent status and maestro's order, forwarding the probe's ready count.
pub(crate) async fn watch_streams(
    domain_url: &str,
    maestro: &MaestroClient,
    pki: &DevTls,
    order_id: &str,
) -> anyhow::Result<(Arrivals, Arrivals)> {
    let tls = TlsSource::load(&pki.maestro)?;
    let expect = Role::Domain {
        domain: ResourceName::parse("domain", DOMAIN)?,
    };
    let channel = maestro_common::grpc::channel_with(domain_url, tls.as_ref(), Some(expect))?;
    let mut statuses = IntentServiceClient::new(channel)
        .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
        .watch_intent_status(WatchIntentStatusRequest {})
        .await
        .context("WatchIntentStatus")?
        .into_inner();
    let (tx, domain_rx) = mpsc::unbounded_channel();
    let intent = maestro_common::ids::intent_id(SERVICE, DOMAIN);
    tokio::spawn(async move {
        while let Some(Ok(s)) = statuses.next().await {
            let at = Instant::now();
            if s.intent_id != intent {
                continue;
            }
            if let Some(site) = s.sites.iter().find(|x| x.site == PROBE)
                && tx.send((at, site.ready)).is_err()
            {
                return;
            }
        }
    });
    let mut watch = maestro
        .orders()
        .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
        .watch_order(WatchOrderRequest {
            id: order_id.into(),
        })
        .await
        .context("WatchOrder")?
        .into_inner();
    let (tx, order_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(ev)) = watch.next().await {
            let at = Instant::now();
            if let Some(ready) = ev.order.as_ref().and_then(order_ready)
                && tx.send((at, ready)).is_err()
            {
                return;
            }
        }
    });
    Ok((domain_rx, order_rx))
}
