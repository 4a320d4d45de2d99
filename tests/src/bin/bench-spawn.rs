//! `bench-spawn`: what starting one workload costs a process that holds many descriptors, when
//! the process spawns it itself and when it goes through the launch helper `maestroctl dev`
//! uses.
//!
//! At every spawn the kernel copies the spawning process's descriptor table and, at `exec`,
//! walks it to close the close-on-exec ones. A site agent holds a few dozen descriptors;
//! `maestroctl dev` runs every site in one process, about 16 descriptors per site (16,000 at
//! 1,024 sites). For each count of descriptors held (the few this process has, then
//! DESCRIPTORS), SPAWNS times one after the other: start `/bin/sh -c :` (its output to a log
//! file, in its own process group, as the process runtime starts a workload) and wait for its
//! exit to be reported, directly and through the helper. Printed: the median and p90 of
//! start → exit reported, and this process's CPU (utime + stime) per spawn. The helper's own
//! CPU is not in that column; the latency includes everything on the path.
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-spawn [DESCRIPTORS [SPAWNS]]`
//! (default 16000 200). A smoke run: `bench-spawn 100 3`.

use anyhow::{Context, ensure};
use maestro_tests::sitebench::proc_usage;
use site_agent::launch::{ExitRoute, HelperCommand, LaunchRequest, Launcher};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn main() -> anyhow::Result<()> {
    maestro_tests::usage::main_or_launch_helper(bench)
}

#[tokio::main]
async fn bench() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-spawn.rs"));
    let mut args = std::env::args().skip(1);
    let descriptors: usize = args.next().map_or(Ok(16_000), |v| v.parse())?;
    let spawns: usize = args.next().map_or(Ok(200), |v| v.parse())?;
    ensure!(spawns > 0, "SPAWNS must be at least 1");
    let dir = tempfile::tempdir()?;
    let helper = Launcher::helper(HelperCommand::this_executable()?);
    // The helper is started by its first launch: one launch before any timing.
    time_spawns(&helper, dir.path(), 1).await?;
    let mut held = Vec::new();
    for target in [0, descriptors] {
        // std opens files close-on-exec, as every descriptor of the federation is.
        while open_descriptors()? < target {
            held.push(std::fs::File::open("/dev/null").context("opening /dev/null")?);
        }
        let open = open_descriptors()?;
        let mut row = Vec::new();
        for (name, launcher) in [("direct", &Launcher::Direct), ("helper", &helper)] {
            let (latencies, cpu) = time_spawns(launcher, dir.path(), spawns).await?;
            println!(
                "{open} descriptors held, {name}: start -> exit reported median {} · p90 {}; this process's CPU {:.3} ms per spawn",
                ms(percentile(&latencies, 50)),
                ms(percentile(&latencies, 90)),
                cpu.as_secs_f64() * 1000.0 / spawns as f64
            );
            row.push(percentile(&latencies, 50));
        }
        println!(
            "{open} descriptors held: helper / direct median ratio {:.2}",
            row[1].as_secs_f64() / row[0].as_secs_f64()
        );
    }
    Ok(())
}

/// Starts `/bin/sh -c :` `n` times, one after the other, waiting for each exit report; the
/// latencies, and the CPU this process spent.
async fn time_spawns(
    launcher: &Launcher,
    dir: &std::path::Path,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    let route = ExitRoute {
        exits: exits_tx,
        reported: Default::default(),
        blueprint: "bench".into(),
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
    };
    let request = LaunchRequest {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), ":".into()],
        env: Vec::new(),
        working_dir: None,
        log: dir.join("bench.log"),
    };
    let cpu0 = proc_usage(0)?.cpu_secs;
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let pid = launcher.launch(&request, route.clone()).await?;
        let exit = tokio::time::timeout(Duration::from_secs(30), exits.recv())
            .await
            .context("no exit reported within 30 s")?
            .context("exit channel closed")?;
        ensure!(exit.pid == pid, "exit of {} reported for {pid}", exit.pid);
        latencies.push(t.elapsed());
    }
    let cpu = (proc_usage(0)?.cpu_secs - cpu0).max(0.0);
    Ok((latencies, Duration::from_secs_f64(cpu)))
}

fn open_descriptors() -> anyhow::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")
        .context("reading /proc/self/fd")?
        .count())
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * p / 100]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
