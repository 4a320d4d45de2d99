//! The bounded outbox and its sender against an in-test log server that is down, then up, or
//! that never answers a push.

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

/// In the child process of [`records_queued_while_a_push_hangs_are_on_disk_within_the_flush_interval`]:
/// the outbox's database directory, and the log server to push to.
const CHILD_DIR: &str = "MAESTRO_TEST_OUTBOX_DIR";
const CHILD_LOG_SERVER: &str = "MAESTRO_TEST_OUTBOX_LOG_SERVER";
/// What the child prints once it queued a line it read from its standard input.
const QUEUED: &str = "queued: ";

fn line(message: &str) -> Record {
    Record {
        blueprint: "bp".into(),
        stream: "log".into(),
        body: Some(record::Body::Log(maestro_proto::logs::v1::LogLine {
            level: "info".into(),
            message: message.into(),
            source: "test".into(),
        })),
        ..Record::default()
    }
}

fn messages(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.body {
            Some(record::Body::Log(l)) => Some(l.message.clone()),
            _ => None,
        })
        .collect()
}

/// `text` without its terminal colour sequences (`ESC [ ... m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A push on a connection that died silently is answered by nothing until its deadline; what the
/// site queues meanwhile must still reach the disk (the agent's database has no background flush)
/// within the sender's flush interval, not only at the next attempt. The sender runs in a child
/// process (this test binary again, in the child role) over a database opened as the agent opens
/// it, against a log server that never answers: a record queued while the push hangs survives a
/// SIGKILL that comes right after the next flush while the push is in flight, and arrives after a
/// restart. Without that flush it is lost (checked by removing it: the restart delivers only the
/// record the push carried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_queued_while_a_push_hangs_are_on_disk_within_the_flush_interval() -> Result<()> {
    match (std::env::var_os(CHILD_DIR), std::env::var(CHILD_LOG_SERVER)) {
        (Some(dir), Ok(endpoint)) => hung_push_child(dir.into(), endpoint).await,
        _ => hung_push_parent().await,
    }
}

/// The child: a sender over the outbox, which queues "before the push" at once and then each
/// line of its standard input, printing [`QUEUED`] and the line after each.
async fn hung_push_child(dir: std::path::PathBuf, endpoint: String) -> Result<()> {
    use tokio::io::AsyncBufReadExt;
    maestro_testkit::tracing::init("site_agent::outbox=debug");
    // As `site_agent::run` opens its database: no background flush.
    let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
    let ob = Outbox::open(&db, "north", "plant-1")?;
    let sender = tokio::spawn(outbox::run_sender(
        ob.clone(),
        endpoint,
        None,
        CancellationToken::new(),
    ));
    ob.append(line("before the push"))?;
    let mut input = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(text) = input.next_line().await? {
        ob.append(line(&text))?;
        println!("{QUEUED}{text}");
    }
    // The parent kills the child; its input ends only when the parent gave up.
    sender.abort();
    anyhow::bail!("the parent closed the child's input")
}

async fn hung_push_parent() -> Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    const HUNG: &str = "queued while the push hangs";
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("site");
    let mut logs = LogServer::start().await?;
    logs.fake.hang(true);
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "records_queued_while_a_push_hangs_are_on_disk_within_the_flush_interval",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, &data)
        .env(CHILD_LOG_SERVER, logs.endpoint())
        .env("RUST_LOG", "site_agent::outbox=debug")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut input = child.stdin.take().context("child stdin")?;
    let mut output =
        tokio::io::BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let mut said = Vec::new();
    let mut wait_for = async |what: &str, pred: &dyn Fn(&str) -> bool| -> Result<()> {
        let found = within(what, GUARD, async {
            while let Some(l) = output.next_line().await? {
                let l = plain(&l);
                let hit = pred(&l);
                said.push(l);
                if hit {
                    return Ok(());
                }
            }
            anyhow::bail!("the child ended")
        })
        .await;
        found
            .and_then(|r| r)
            .with_context(|| format!("the child said:\n{}", said.join("\n")))
    };

    let hung = within(
        "the first push to reach the log server",
        GUARD,
        logs.hung.recv(),
    )
    .await?
    .context("log server stopped")?;
    ensure!(messages(&hung) == ["before the push"], "{hung:?}");
    input.write_all(format!("{HUNG}\n").as_bytes()).await?;
    wait_for("the record queued while the push hangs", &|l| {
        l.ends_with(&format!("{QUEUED}{HUNG}"))
    })
    .await?;
    // The outbox counted both records (the one in flight and the one just queued) before this
    // flush started, so the flush covers the new one.
    wait_for("a flush while the push is in flight", &|l| {
        l.contains("outbox flushed while a push is in flight") && l.contains("records=2")
    })
    .await?;
    maestro_testkit::procs::kill9(child.id().context("child pid")?);
    let status = child.wait().await?;
    ensure!(!status.success(), "the child was killed: {status}");
    ensure!(
        logs.hung.try_recv().is_err(),
        "a second push was sent while the first hung"
    );

    // Restarted from what the kill left on disk, against a log server that answers.
    let db = sled::Config::new()
        .path(&data)
        .flush_every_ms(None)
        .open()?;
    let ob = Outbox::open(&db, "north", "plant-1")?;
    let mut logs = LogServer::start().await?;
    let stop = CancellationToken::new();
    let sender = tokio::spawn(outbox::run_sender(
        ob.clone(),
        logs.endpoint(),
        None,
        stop.clone(),
    ));
    until("the outbox to drain", GUARD, async || {
        Ok(ob.is_empty().then_some(()))
    })
    .await?;
    logs.drain();
    ensure!(
        messages(&logs.seen) == ["before the push", HUNG],
        "after the kill: {:?}",
        messages(&logs.seen)
    );
    stop.cancel();
    sender.await?.map_err(anyhow::Error::msg)?;
    Ok(())
}
