//! A log server SIGKILLed in the middle of a busy stream loses nothing and repeats nothing: four
//! sites push 10,000 records through their real outboxes while a subscriber follows from cursor 0
//! and resubscribes from its last sequence; the log server restarts on the same data and port.

use anyhow::{Context, ensure};
use maestro_common::backoff::Backoff;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use maestro_proto::logs::v1::{BlueprintStatus, QueryRequest, Record, SubscribeRequest, record};
use maestro_testkit::net::free_port;
use maestro_testkit::{until, within};
use maestro_tests::nodes::{self, Node};
use site_agent::outbox::{self, Outbox};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "stream";
const SITES: usize = 4;
const PER_SITE: u64 = 2_500;
const KILL_AFTER: usize = 3_000;
const TIMEOUT: Duration = Duration::from_secs(180);

/// The `i`-th record of a site: every fourth a status, the rest log lines; `generation` carries
/// `i` so the subscriber can check the site's order across streams.
fn record(i: u64) -> Record {
    let body = if i.is_multiple_of(4) {
        record::Body::Status(BlueprintStatus {
            kind: "ProcessDeployment".into(),
            ready_instances: (i % 3) as u32,
            total_instances: 2,
            converged: i.is_multiple_of(8),
            ..BlueprintStatus::default()
        })
    } else {
        record::Body::Log(maestro_proto::logs::v1::LogLine {
            level: "info".into(),
            message: format!("line {i}"),
            source: "bench".into(),
        })
    };
    Record {
        blueprint: "web".into(),
        generation: i,
        stream: if i.is_multiple_of(4) { "status" } else { "log" }.into(),
        body: Some(body),
        ..Record::default()
    }
}

/// Follows the log server from cursor 0 for ever, resubscribing after its last sequence whenever
/// the stream breaks, and forwards every record.
async fn follow(url: String, tx: mpsc::UnboundedSender<Record>) {
    let mut last = 0;
    let never = CancellationToken::new();
    let mut reconnect = Backoff::new(Duration::from_millis(50), Duration::from_millis(200));
    loop {
        if let Ok(channel) = maestro_common::grpc::channel(&url) {
            let mut client = LogServiceClient::new(channel)
                .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES);
            let request = SubscribeRequest {
                after_sequence: last,
                follow: true,
                filter: None,
            };
            if let Ok(stream) = client.subscribe(request).await {
                reconnect.reset();
                let mut stream = stream.into_inner();
                while let Some(Ok(r)) = stream.next().await {
                    last = r.sequence;
                    if tx.send(r).is_err() {
                        return;
                    }
                }
            }
        }
        // Reconnect backoff while the server is down, not synchronisation.
        reconnect.wait(&never).await;
    }
}

/// Waits until the log server answers a Query.
async fn wait_serving(url: &str, node: &Node) -> anyhow::Result<()> {
    let serving = until(
        "the log server to serve",
        Duration::from_secs(30),
        async || {
            let Ok(ch) = maestro_common::grpc::channel(url) else {
                return Ok(None);
            };
            let query = LogServiceClient::new(ch)
                .query(QueryRequest {
                    page_size: 1,
                    ..QueryRequest::default()
                })
                .await;
            Ok(query.is_ok().then_some(()))
        },
    )
    .await;
    serving.map_err(|e| anyhow::anyhow!("{e}:\n{}", node.log_tail()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_log_server_delivers_every_record_once_and_in_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = nodes::with_config(
        maestro_tests::node_bin!(),
        "log-server",
        "log-server",
        &dir.path().join("log-server"),
        &serde_json::json!({
            "listen": format!("127.0.0.1:{port}"),
            "data_dir": dir.path().join("log-server/data"),
            "domain": DOMAIN,
            // A delivery test: plaintext keeps one process pushing for many sites.
            "tls": {"insecure": true},
        }),
    )?;
    server.start()?;
    wait_serving(&url, &server).await?;

    let stop = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscriber = tokio::spawn(follow(url.clone(), tx));
    let mut producers = Vec::new();
    let mut dbs = Vec::new();
    let mut outboxes = Vec::new();
    for s in 1..=SITES {
        let db = sled::open(dir.path().join(format!("site-{s}")))?;
        let ob = Outbox::open(&db, DOMAIN, &format!("site-{s}"))?;
        dbs.push(db);
        outboxes.push(ob.clone());
        tokio::spawn(outbox::run_sender(
            ob.clone(),
            url.clone(),
            None,
            stop.clone(),
        ));
        producers.push(tokio::task::spawn_blocking(move || {
            for i in 0..PER_SITE {
                ob.append(record(i))?;
            }
            anyhow::Ok(())
        }));
    }

    let expected = SITES * PER_SITE as usize;
    let mut seen: HashMap<(String, String, u64), u32> = HashMap::new();
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut sequences: Vec<u64> = Vec::new();
    let mut killed = false;
    let started = std::time::Instant::now();
    let collect = async {
        while seen.len() < expected {
            let r = rx.recv().await.context("subscriber ended")?;
            *seen
                .entry((r.site.clone(), r.stream.clone(), r.sender_sequence))
                .or_default() += 1;
            order.entry(r.site.clone()).or_default().push(r.generation);
            sequences.push(r.sequence);
            if !killed && sequences.len() >= KILL_AFTER {
                killed = true;
                let pending: usize = outboxes.iter().map(Outbox::len).sum();
                eprintln!(
                    "SIGKILL after {} records ({:?}); {pending} still in the sites' outboxes",
                    sequences.len(),
                    started.elapsed()
                );
                server.kill9();
                server.start()?;
            }
        }
        anyhow::Ok(())
    };
    let collected = within("every record to arrive", TIMEOUT, collect).await;
    eprintln!("{} records in {:?}", seen.len(), started.elapsed());
    stop.cancel();
    subscriber.abort();
    let result = (|| {
        collected
            .with_context(|| format!("only {} of {expected} records arrived", seen.len()))??;
        for p in producers {
            ensure!(p.is_finished(), "a producer is still appending");
        }
        ensure!(killed, "the log server was never killed");
        let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        ensure!(repeated.is_empty(), "records delivered twice: {repeated:?}");
        ensure!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "log server sequences are not strictly increasing"
        );
        for s in 1..=SITES {
            let site = format!("site-{s}");
            let got = order.get(&site).map(Vec::as_slice).unwrap_or_default();
            let want: Vec<u64> = (0..PER_SITE).collect();
            ensure!(got == want, "{site} out of sender order or incomplete");
            for (stream, count) in [("status", PER_SITE / 4), ("log", PER_SITE - PER_SITE / 4)] {
                for seq in 1..=count {
                    ensure!(
                        seen.contains_key(&(site.clone(), stream.to_string(), seq)),
                        "missing {site} {stream} #{seq}"
                    );
                }
            }
        }
        Ok(())
    })();
    if result.is_err() {
        eprintln!("--- log server\n{}", server.log_tail());
    }
    result
}
