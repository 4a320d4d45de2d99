//! The load sites in a process of their own.
//!
//! A process holds at most its open-file limit of descriptors, and with the sites and the log
//! server in one process every connection holds two (this machine's hard limit, 20,000, stopped
//! an in-process run at about 9,998 sites). With `--sites-process` (or when both ends would not
//! fit) the benchmark runs the load sites in a second process, this same program started with
//! `--load-process SPEC`: each side then holds one descriptor per site, as a log server serving
//! remote sites does.
//!
//! The two talk over the child's standard input and output, a line each: the child connects
//! every site and prints `connected {totals}`, waits for `go` on its input, drives the sites for
//! the spec's seconds and prints `done {totals}`.

use crate::sites::{Load, connect, drive};
use anyhow::{Context, bail};
use maestro_common::tls::{TlsSettings, TlsSource};
use maestro_tests::sitebench::proc_usage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The flag that makes this program the load process.
pub(crate) const FLAG: &str = "--load-process";

/// What the load process does: which sites, against which log server, at what cadence.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Spec {
    /// The log server's endpoint.
    pub(crate) url: String,
    /// Each site's name and TLS material.
    pub(crate) sites: Vec<(String, TlsSettings)>,
    /// The order the status records name.
    pub(crate) order_id: String,
    /// One push per site every this many milliseconds, or back to back when `None`.
    pub(crate) interval_ms: Option<u64>,
    /// How long the sites push once told to go.
    pub(crate) seconds: f64,
}

/// What the load process reports.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Totals {
    /// Sites connected.
    pub(crate) connected: usize,
    /// Seconds connecting took.
    pub(crate) connect_secs: f64,
    /// Resident memory the connections added to the load process, bytes.
    pub(crate) connect_rss: u64,
    /// Records acknowledged.
    pub(crate) records: u64,
    /// Pushes acknowledged.
    pub(crate) pushes: u64,
    /// Pushes refused or failed.
    pub(crate) failures: u64,
    /// Seconds the sites pushed.
    pub(crate) took_secs: f64,
    /// CPU seconds the load process spent pushing.
    pub(crate) cpu_secs: f64,
}

/// The load process, started and connected.
pub(crate) struct LoadProcess {
    child: Child,
    input: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// What connecting cost.
    pub(crate) connected: Totals,
}

impl LoadProcess {
    /// Writes `spec` to `dir/NAME.json`, starts this program on it and waits until every site
    /// connected (bounded by `wait`).
    pub(crate) async fn start(
        spec: &Spec,
        dir: &Path,
        name: &str,
        wait: Duration,
    ) -> anyhow::Result<Self> {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec(spec)?)?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg(FLAG)
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the load process")?;
        let input = child.stdin.take().context("the load process's input")?;
        let output = child.stdout.take().context("the load process's output")?;
        let mut lines = BufReader::new(output).lines();
        let connected = expect(&mut lines, "connected", wait).await?;
        Ok(Self {
            child,
            input,
            lines,
            connected,
        })
    }

    /// Tells the sites to push.
    pub(crate) async fn go(&mut self) -> anyhow::Result<()> {
        self.input.write_all(b"go\n").await?;
        self.input.flush().await?;
        Ok(())
    }

    /// Waits for the load's totals (bounded by `wait`) and for the process to exit.
    pub(crate) async fn finish(mut self, wait: Duration) -> anyhow::Result<Totals> {
        let done = expect(&mut self.lines, "done", wait).await?;
        let status = tokio::time::timeout(wait, self.child.wait())
            .await
            .context("the load process did not exit")??;
        anyhow::ensure!(status.success(), "the load process ended {status}");
        Ok(done)
    }
}

/// Reads lines until one is `WORD {json}`; fails on end of output or after `wait`.
async fn expect(
    lines: &mut Lines<BufReader<ChildStdout>>,
    word: &str,
    wait: Duration,
) -> anyhow::Result<Totals> {
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(json) = line.strip_prefix(word).map(str::trim) {
                return serde_json::from_str(json)
                    .with_context(|| format!("the load process's {word:?} line {line:?}"));
            }
        }
        bail!("the load process ended before saying {word:?}")
    };
    tokio::time::timeout(wait, read)
        .await
        .with_context(|| format!("the load process did not say {word:?} in {wait:?}"))?
}

/// The load process's side: reads the spec at `path`, connects, waits for `go`, pushes, reports.
pub(crate) async fn serve(path: &Path) -> anyhow::Result<()> {
    let spec: Spec = serde_json::from_slice(&std::fs::read(path)?)
        .with_context(|| format!("reading {}", path.display()))?;
    let material = spec
        .sites
        .iter()
        .map(|(name, settings)| {
            let source = TlsSource::load(settings)?.context("TLS material")?;
            anyhow::Ok((name.clone(), source))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rss0 = proc_usage(0)?.rss;
    let (sites, took) = connect(&spec.url, &material).await?;
    let mut totals = Totals {
        connected: sites.len(),
        connect_secs: took.as_secs_f64(),
        connect_rss: proc_usage(0)?.rss.saturating_sub(rss0),
        ..Totals::default()
    };
    println!("connected {}", serde_json::to_string(&totals)?);
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    match input.next_line().await? {
        Some(line) if line.trim() == "go" => {}
        other => bail!("expected \"go\", got {other:?}"),
    }
    let load = Arc::new(Load::default());
    let started = Instant::now();
    let cpu0 = proc_usage(0)?.cpu_secs;
    let until = started + Duration::from_secs_f64(spec.seconds);
    let interval = spec.interval_ms.map(Duration::from_millis);
    let _sites = drive(sites, &spec.order_id, interval, until, load.clone()).await?;
    // Back to back, the last pushes may end after `until`; at a cadence, the window is the span.
    totals.took_secs = match interval {
        Some(_) => until.duration_since(started),
        None => started.elapsed(),
    }
    .as_secs_f64();
    totals.cpu_secs = proc_usage(0)?.cpu_secs - cpu0;
    totals.records = load.records.load(Ordering::Relaxed);
    totals.pushes = load.pushes.load(Ordering::Relaxed);
    totals.failures = load.failures.load(Ordering::Relaxed);
    println!("done {}", serde_json::to_string(&totals)?);
    Ok(())
}
