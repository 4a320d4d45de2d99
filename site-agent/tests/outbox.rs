//! The bounded outbox and its sender against an in-test log server that is down, then up.

mod common;

use anyhow::{Context, Result, ensure};
use common::LogServer;
use maestro_proto::logs::v1::{BlueprintStatus, Record, record};
use maestro_testkit::{GUARD, until, within};
use site_agent::outbox::{self, DROPPED_SOURCE, Outbox};
use std::collections::BTreeSet;
use tokio_util::sync::CancellationToken;

const MAX: usize = 50;
const STATUSES: u64 = 20;
const LOGS: u64 = 300;

fn status(i: u64) -> Record {
    Record {
        blueprint: format!("bp-{i}"),
        stream: "status".into(),
        body: Some(record::Body::Status(BlueprintStatus {
            converged: true,
            ..BlueprintStatus::default()
        })),
        ..Record::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_log_server_gets_every_status_the_newest_logs_and_a_drop_count() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let db = sled::open(dir.path())?;
    let ob = Outbox::open_bounded(&db, "north", "plant-1", MAX)?;
    // A port nothing listens on yet.
    let addr = maestro_testkit::net::free_addr();
    let stop = CancellationToken::new();
    let sender = tokio::spawn(outbox::run_sender(
        ob.clone(),
        format!("http://{addr}"),
        None,
        stop.clone(),
    ));

    for i in 0..LOGS {
        if i % (LOGS / STATUSES) == 0 {
            ob.append(status(i / (LOGS / STATUSES)))?;
        }
        ob.log("info", "bp", "test", format!("line {i}"));
        ob.append(Record {
            stream: "heartbeat".into(),
            body: Some(record::Body::Heartbeat(Default::default())),
            ..Record::default()
        })?;
        // Timing-proof worst case: a failing push may hold every stored record in flight; then
        // only statuses (never dropped), a heartbeat kept beside the one in flight and a log
        // record not worth a marker of its own add to the bound. The exact bound is unit-tested.
        ensure!(
            ob.len() <= MAX + STATUSES as usize + 2,
            "outbox over its bound: {}",
            ob.len()
        );
    }

    let mut logs = LogServer::start_on(addr).await?;
    let mut statuses = BTreeSet::new();
    let mut lines = BTreeSet::new();
    let mut dropped = 0;
    let mut heartbeats = 0;
    let collect = async {
        while statuses.len() < STATUSES as usize || lines.len() as u64 + dropped < LOGS {
            let r = logs.records.recv().await.context("log server stopped")?;
            match r.body {
                Some(record::Body::Status(_)) => {
                    ensure!(statuses.insert(r.blueprint.clone()), "status twice: {r:?}");
                }
                Some(record::Body::Log(l)) if l.source == DROPPED_SOURCE => {
                    let n = l.message.split(' ').nth(1).context("count")?;
                    ensure!(l.message == outbox::dropped_message(n.parse()?));
                    dropped += n.parse::<u64>()?;
                }
                Some(record::Body::Log(l)) => {
                    ensure!(lines.insert(l.message.clone()), "line twice: {l:?}");
                }
                Some(record::Body::Heartbeat(_)) => heartbeats += 1,
                None => {}
            }
        }
        Ok(())
    };
    within("every status and the newest logs", GUARD, collect).await??;
    ensure!(dropped > 0, "the bound must have dropped log records");
    ensure!(heartbeats <= 2, "heartbeats are coalesced: {heartbeats}");
    // Every line is delivered or counted as dropped. Which ones were kept depends on timing:
    // the oldest go first, except lines a failed push held in flight while the outbox
    // overflowed (they cannot be dropped, they may have been delivered), so newer lines went in
    // their place. The exact drop order without a push in flight is unit-tested.
    ensure!(
        lines.len() as u64 + dropped == LOGS,
        "kept {} + dropped {dropped}",
        lines.len()
    );
    ensure!(
        lines.len() <= MAX,
        "kept more than the bound: {}",
        lines.len()
    );
    // The ack follows the reply the log server already sent: poll the outbox.
    until("the outbox to drain", GUARD, async || {
        Ok(ob.is_empty().then_some(()))
    })
    .await?;
    stop.cancel();
    sender.await?.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// A record the log server will never take (here one over its `max_record_bytes`, appended
/// directly: `Outbox::log` cuts long messages) is dropped with a note instead of holding back
/// every record behind it; against the real log server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_log_server_refuses_is_dropped_and_holds_nothing_back() -> Result<()> {
    use maestro_proto::logs::v1::log_service_client::LogServiceClient;
    use maestro_proto::logs::v1::{LogLine, QueryRequest, RecordFilter};
    let (site_dir, logs_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let stop = CancellationToken::new();
    let server = log_server::run(
        log_server::Config {
            listen: "127.0.0.1:0".parse()?,
            data_dir: logs_dir.path().to_path_buf(),
            domain: "north".into(),
            max_record_bytes: 32 * 1024,
            tls: maestro_common::tls::TlsSettings::insecure(),
            ..log_server::Config::default()
        },
        stop.clone(),
    )
    .await?;
    let db = sled::open(site_dir.path())?;
    let ob = Outbox::open(&db, "north", "plant-1")?;
    ob.append(Record {
        blueprint: "bp".into(),
        stream: "log".into(),
        body: Some(record::Body::Log(LogLine {
            level: "info".into(),
            message: "x".repeat(40_000),
            source: "test".into(),
        })),
        ..Record::default()
    })?;
    ob.log("info", "bp", "test", "the line after the big one");
    // Cut, not refused: a process's long line still arrives, shortened.
    ob.log("info", "bp", "test", "y".repeat(100_000));
    ob.append(status(1))?;
    let endpoint = format!("http://{}", server.addr);
    let sender = tokio::spawn(outbox::run_sender(
        ob.clone(),
        endpoint.clone(),
        None,
        stop.clone(),
    ));

    let mut client = LogServiceClient::new(maestro_common::grpc::channel(&endpoint)?);
    let stored = until(
        "the records behind the refused one to arrive",
        GUARD,
        async || {
            let records = client
                .query(QueryRequest {
                    filter: Some(RecordFilter::default()),
                    after_sequence: 0,
                    page_size: 100,
                })
                .await?
                .into_inner()
                .records;
            let has_status = records
                .iter()
                .any(|r| matches!(r.body, Some(record::Body::Status(_))));
            Ok((has_status && records.len() >= 4).then_some(records))
        },
    )
    .await?;
    let messages: Vec<String> = stored
        .iter()
        .filter_map(|r| match &r.body {
            Some(record::Body::Log(l)) => Some(l.message.clone()),
            _ => None,
        })
        .collect();
    ensure!(
        messages.iter().any(|m| m == "the line after the big one"),
        "{messages:?}"
    );
    ensure!(
        messages
            .iter()
            .any(|m| m.starts_with("yyyy") && m.len() <= outbox::MAX_LOG_MESSAGE_BYTES),
        "the long line arrives cut"
    );
    ensure!(
        messages.iter().any(|m| m
            .starts_with("a record was refused by the log server and dropped")
            && m.contains("max_record_bytes")),
        "the drop is noted with the server's reason: {messages:?}"
    );
    ensure!(
        !messages.iter().any(|m| m.starts_with("xxxx")),
        "the refused record never arrives"
    );
    within("the outbox to empty", GUARD, async {
        while !ob.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await?;
    stop.cancel();
    sender.await?.map_err(anyhow::Error::msg)?;
    Ok(())
}
