//! The simulated sites: their connections, what each pushes per heartbeat, and the load loop.

use crate::{CONNECTING, DOMAIN, SERVICE};
use anyhow::Context;
use maestro_cli::dev::pki::DevTls;
use maestro_common::ResourceName;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_proto::logs::v1::{BlueprintStatus, PushRequest, Record, SiteHeartbeat, record};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::transport::Channel;

/// A simulated site: its name, its connection and its per-stream sequences.
pub(crate) struct Site {
    pub(crate) name: String,
    pub(crate) client: LogServiceClient<Channel>,
    pub(crate) status_seq: u64,
    pub(crate) heartbeat_seq: u64,
}

/// A site's blueprint status, then a heartbeat: what a site agent pushes when the status changes.
pub(crate) fn report(site: &mut Site, order_id: &str, converged: bool) -> Vec<Record> {
    site.status_seq += 1;
    let now = Some(maestro_common::time::timestamp(
        maestro_common::time::now_millis(),
    ));
    let status = Record {
        domain: DOMAIN.into(),
        site: site.name.clone(),
        blueprint: SERVICE.into(),
        generation: 1,
        stream: "status".into(),
        sender_sequence: site.status_seq,
        observed_at: now,
        intent_id: maestro_common::ids::intent_id(SERVICE, DOMAIN),
        order_id: order_id.into(),
        body: Some(record::Body::Status(BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: u32::from(converged),
            total_instances: 1,
            converged,
            // About what a process deployment's status says of one instance.
            status_json: format!(
                r#"{{"instances":[{{"name":"{SERVICE}-0","state":"running","pid":4242,"restarts":0}}],"ready":{}}}"#,
                u32::from(converged)
            ),
            ..BlueprintStatus::default()
        })),
        ..Record::default()
    };
    vec![status, heartbeat(site)]
}

/// A heartbeat of `site`: its Git sync fine, one blueprint, its host's free capacity.
pub(crate) fn heartbeat(site: &mut Site) -> Record {
    site.heartbeat_seq += 1;
    let now = Some(maestro_common::time::timestamp(
        maestro_common::time::now_millis(),
    ));
    Record {
        domain: DOMAIN.into(),
        site: site.name.clone(),
        stream: "heartbeat".into(),
        sender_sequence: site.heartbeat_seq,
        observed_at: now,
        body: Some(record::Body::Heartbeat(SiteHeartbeat {
            blueprints: 1,
            free_memory_bytes: 1 << 30,
            free_cpu_millis: 2000,
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            synced_at: now,
            ..SiteHeartbeat::default()
        })),
        ..Record::default()
    }
}

/// Loads the TLS material of the sites `names` (the certificates were issued by `prepare`).
pub(crate) fn site_material(
    pki: &DevTls,
    names: &[String],
) -> anyhow::Result<Vec<(String, TlsSource)>> {
    names
        .iter()
        .map(|name| {
            let settings = pki.sites.get(name).context("no certificate")?;
            Ok((
                name.clone(),
                TlsSource::load(settings)?.context("TLS material")?,
            ))
        })
        .collect()
}

/// One connection per site to the log server at `url`, each site with its own certificate;
/// each site's first push (an empty one) completes the TCP connect and TLS handshake, at most
/// [`CONNECTING`] at a time. Returns the sites and how long connecting took.
pub(crate) async fn connect(
    url: &str,
    tls: &[(String, TlsSource)],
) -> anyhow::Result<(Vec<Site>, Duration)> {
    let expect = Role::Domain {
        domain: ResourceName::parse("domain", DOMAIN)?,
    };
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (name, source)) in tls.iter().enumerate() {
        let channel = maestro_common::grpc::channel_with(url, Some(source), Some(expect.clone()))?;
        let (gate, name) = (gate.clone(), name.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut client = LogServiceClient::new(channel);
            client
                .push(PushRequest::default())
                .await
                .with_context(|| format!("first push of {name}"))?;
            anyhow::Ok((
                i,
                Site {
                    name,
                    client,
                    status_seq: 0,
                    heartbeat_seq: 0,
                },
            ))
        });
    }
    let mut sites: Vec<Option<Site>> = (0..tls.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, site) = joined??;
        sites[i] = Some(site);
    }
    let elapsed = started.elapsed();
    Ok((sites.into_iter().flatten().collect(), elapsed))
}

/// Totals of a load phase.
#[derive(Default)]
pub(crate) struct Load {
    pub(crate) records: AtomicU64,
    pub(crate) pushes: AtomicU64,
    pub(crate) failures: AtomicU64,
}

/// Every site pushes its report until `until`: back to back (`interval` `None`) or once per
/// `interval`, the sites' phases spread over it. Returns the sites (their sequences advanced).
pub(crate) async fn drive(
    sites: Vec<Site>,
    order_id: &str,
    interval: Option<Duration>,
    until: Instant,
    load: Arc<Load>,
) -> anyhow::Result<Vec<Site>> {
    let count = sites.len().max(1) as u32;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut site) in sites.into_iter().enumerate() {
        let (load, order_id) = (load.clone(), order_id.to_string());
        tasks.spawn(async move {
            let mut next =
                Instant::now() + interval.map_or(Duration::ZERO, |d| d * i as u32 / count);
            let mut reported = false;
            while next < until {
                if interval.is_some() {
                    tokio::time::sleep_until(next.into()).await;
                }
                // Steady state: every blueprint converged. At the heartbeat cadence as a site
                // agent pushes (a blueprint's status when it changes, so once, then a heartbeat
                // per interval); back to back (the capacity baseline) both every time.
                let records = if interval.is_some() && reported {
                    vec![heartbeat(&mut site)]
                } else {
                    report(&mut site, &order_id, true)
                };
                reported = true;
                let n = records.len() as u64;
                match site.client.push(PushRequest { records }).await {
                    Ok(_) => {
                        load.records.fetch_add(n, Ordering::Relaxed);
                        load.pushes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        load.failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                next = match interval {
                    Some(d) => next + d,
                    None => Instant::now(),
                };
            }
            (i, site)
        });
    }
    let mut back: Vec<Option<Site>> = (0..count as usize).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, site) = joined?;
        back[i] = Some(site);
    }
    Ok(back.into_iter().flatten().collect())
}
