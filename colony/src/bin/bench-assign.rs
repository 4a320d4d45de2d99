//! `bench-assign`: latency from submitting a process to a long-polling executor getting it.
//!
//! Starts the embedded colony server on loopback (sled in a temporary directory), approves one
//! executor that long-polls `assign` (and closes each process it gets as successful), then:
//! 1. submits N processes one at a time, each after the previous one was assigned and closed,
//!    timing submit -> assign-returned per process (median, p90, p99, max, throughput);
//! 2. submits N more back to back and times until the executor has been assigned all of them.
//!
//! Usage: `cargo run --release -p colony --bin bench-assign [N]` (default 1000).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use colony::{
    Colony, ColonyClient, ColonyError, Executor, FunctionSpec, PrivateKey, ServerConfig, User,
    start,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const COLONY: &str = "bench";
const EXECUTOR_TYPE: &str = "bench-worker";
const WAIT: Duration = Duration::from_secs(30);

/// What the executor reports for each process: its id and when `assign` returned it.
type Assigned = (String, Instant);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Long-polls, reports and closes processes until `stop`.
async fn executor(
    client: ColonyClient,
    key: PrivateKey,
    tx: mpsc::UnboundedSender<Assigned>,
    stop: CancellationToken,
) -> Result<(), ColonyError> {
    loop {
        let assigned = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            a = client.assign(&key, COLONY, 10) => a?,
        };
        let Some(p) = assigned else { continue };
        let at = Instant::now();
        client.close_successful(&key, &p.process_id, vec![]).await?;
        if tx.send((p.process_id, at)).is_err() {
            return Ok(());
        }
    }
}

async fn bench(n: usize, data_dir: &std::path::Path) -> Result<(), String> {
    let server_key = PrivateKey::generate();
    let owner_key = PrivateKey::generate();
    let exec_key = PrivateKey::generate();
    let user_key = PrivateKey::generate();
    let shutdown = CancellationToken::new();
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = start(
        ServerConfig::new(data_dir, server_key.id(), listen),
        shutdown.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let client = ColonyClient::from_addr(server.addr);
    let err = |e: ColonyError| e.to_string();
    client
        .add_colony(
            &server_key,
            &Colony {
                colony_id: owner_key.id(),
                name: COLONY.into(),
            },
        )
        .await
        .map_err(err)?;
    let exec = Executor::new(&exec_key.id(), EXECUTOR_TYPE, "worker-1", COLONY);
    client.add_executor(&owner_key, &exec).await.map_err(err)?;
    client
        .approve_executor(&owner_key, COLONY, "worker-1")
        .await
        .map_err(err)?;
    let user = User {
        colony_name: COLONY.into(),
        user_id: user_key.id(),
        name: "bench".into(),
        email: "bench@example.org".into(),
        phone: String::new(),
    };
    client.add_user(&owner_key, &user).await.map_err(err)?;

    let (tx, mut assigned) = mpsc::unbounded_channel();
    let worker = tokio::spawn(executor(client.clone(), exec_key, tx, shutdown.clone()));
    let spec = FunctionSpec::new("noop", COLONY, EXECUTOR_TYPE);
    let mut next_assigned = async || -> Result<Assigned, String> {
        tokio::time::timeout(WAIT, assigned.recv())
            .await
            .map_err(|_| format!("no process assigned within {WAIT:?}"))?
            .ok_or_else(|| "the executor stopped".to_string())
    };

    // 1. One at a time.
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t0 = Instant::now();
        let p = client.submit(&user_key, &spec).await.map_err(err)?;
        let (id, at) = next_assigned().await?;
        if id != p.process_id {
            return Err(format!("assigned {id}, submitted {}", p.process_id));
        }
        latencies.push(at - t0);
    }
    let sequential = started.elapsed();

    // 2. Back to back.
    let started = Instant::now();
    for _ in 0..n {
        client.submit(&user_key, &spec).await.map_err(err)?;
    }
    let submitted = started.elapsed();
    for _ in 0..n {
        next_assigned().await?;
    }
    let drained = started.elapsed();

    shutdown.cancel();
    let _ = worker.await;
    server.stopped().await;

    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!("submit -> assign returned, {n} processes one at a time (1 long-polling executor):");
    println!(
        "  median {}  p90 {}  p99 {}  max {}  (min {}, mean {})",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1]),
        ms(latencies[0]),
        ms(mean),
    );
    println!(
        "  {:.0} processes/s submitted, assigned and closed in sequence ({sequential:.2?})",
        n as f64 / sequential.as_secs_f64()
    );
    println!(
        "back to back: {n} submits in {submitted:.2?} ({:.0}/s); all assigned and closed after {drained:.2?} ({:.0}/s)",
        n as f64 / submitted.as_secs_f64(),
        n as f64 / drained.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|s| s.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("bench-assign: N must be a positive number");
            return ExitCode::from(64);
        }
    };
    let dir = std::env::temp_dir().join(format!("bench-assign-{}", std::process::id()));
    let result = bench(n, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-assign: {e}");
            ExitCode::FAILURE
        }
    }
}
