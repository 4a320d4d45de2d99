//! The sites that make the load of a phase, in this process or in a load process of their own.

use crate::WAIT;
use crate::load_process::{LoadProcess, Spec, Totals};
use crate::sites::{Load, Site, connect, drive, site_material};
use anyhow::Context;
use maestro_cli::dev::pki::DevTls;
use maestro_tests::sitebench::proc_usage;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How the load pushes: which order its statuses name, and at what cadence.
#[derive(Debug, Clone)]
pub(crate) struct Cadence {
    /// The order the status records name.
    pub(crate) order_id: String,
    /// One push per site every this long, or back to back when `None`.
    pub(crate) interval: Option<Duration>,
    /// How long the sites push once started.
    pub(crate) span: Duration,
}

/// Connected load sites, not pushing yet.
pub(crate) enum LoadSites {
    /// In this process: both ends of every connection here.
    Here(Vec<Site>, Cadence),
    /// In a load process.
    Process(Box<LoadProcess>, Duration),
}

impl LoadSites {
    /// Connects the sites `names` to the log server at `url`, here or (`separate`) in a load
    /// process whose spec is written under `dir` as `label`. Returns them with what connecting
    /// cost (sites, seconds, resident memory added where they live).
    pub(crate) async fn connect(
        url: &str,
        names: &[String],
        pki: &DevTls,
        cadence: Cadence,
        separate: Option<(&Path, &str)>,
    ) -> anyhow::Result<(Self, Totals)> {
        if let Some((dir, label)) = separate {
            let spec = Spec {
                url: url.to_string(),
                sites: names
                    .iter()
                    .map(|n| {
                        let tls = pki.sites.get(n).context("no certificate")?.clone();
                        anyhow::Ok((n.clone(), tls))
                    })
                    .collect::<Result<_, _>>()?,
                order_id: cadence.order_id,
                interval_ms: cadence
                    .interval
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                seconds: cadence.span.as_secs_f64(),
            };
            let span = cadence.span;
            let process = LoadProcess::start(&spec, dir, label, WAIT).await?;
            let totals = process.connected.clone();
            return Ok((Self::Process(Box::new(process), span), totals));
        }
        let material = site_material(pki, names)?;
        let rss0 = proc_usage(0)?.rss;
        let (sites, took) = connect(url, &material).await?;
        let totals = Totals {
            connected: sites.len(),
            connect_secs: took.as_secs_f64(),
            connect_rss: proc_usage(0)?.rss.saturating_sub(rss0),
            ..Totals::default()
        };
        Ok((Self::Here(sites, cadence), totals))
    }

    /// Starts pushing; the task ends with the load's totals once the span is over (CPU is
    /// counted only for a load process: sites here are in this process's own figure).
    pub(crate) async fn start(self) -> anyhow::Result<JoinHandle<anyhow::Result<Totals>>> {
        match self {
            Self::Here(sites, cadence) => Ok(tokio::spawn(async move {
                let load = Arc::new(Load::default());
                let started = Instant::now();
                let until = started + cadence.span;
                let sites = drive(
                    sites,
                    &cadence.order_id,
                    cadence.interval,
                    until,
                    load.clone(),
                )
                .await?;
                let took = match cadence.interval {
                    Some(_) => cadence.span,
                    None => started.elapsed(),
                };
                drop(sites);
                Ok(Totals {
                    records: load.records.load(Ordering::Relaxed),
                    pushes: load.pushes.load(Ordering::Relaxed),
                    failures: load.failures.load(Ordering::Relaxed),
                    took_secs: took.as_secs_f64(),
                    ..Totals::default()
                })
            })),
            Self::Process(mut process, span) => {
                process.go().await?;
                Ok(tokio::spawn(process.finish(span + WAIT)))
            }
        }
    }
}
