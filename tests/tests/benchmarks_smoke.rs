//! The benchmark programs run, at small sizes, to the end and print their figures: the test
//! command keeps them working. No timing is asserted here; the figures are in
//! `docs/performance.md`, measured with release builds. (`bench-tls-handshake` is left out: its
//! fixed cost is about 30 s in a debug build.)

use std::process::Command;

/// Runs a benchmark binary with `args`; its standard output when it exits 0.
fn run(bin: &str, args: &[&str]) -> anyhow::Result<String> {
    run_with_env(bin, args, &[])
}

/// [`run`] with `env` set for the benchmark.
fn run_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{bin} {args:?} exited {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_rollout_benchmark_rolls_out_and_rolls_back_four_sites() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-rollout"), &["2", "2", "0"])?;
    for figure in ["add", "rollout", "abort"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

#[test]
fn the_status_latency_benchmark_runs() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-status-latency"), &["20"])?;
    anyhow::ensure!(out.contains("median"), "{out}");
    Ok(())
}

#[test]
fn the_signed_state_benchmark_runs() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-signed-state"), &["2", "3", "2"])?;
    anyhow::ensure!(!out.trim().is_empty(), "no figures");
    Ok(())
}

#[test]
fn the_spawn_benchmark_runs_directly_and_through_the_launch_helper() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-spawn"), &["100", "3"])?;
    for figure in ["direct: start -> exit", "helper: start -> exit", "ratio"] {
        anyhow::ensure!(
            out.contains(figure),
            "no {figure} figure in:
{out}"
        );
    }
    Ok(())
}

#[test]
fn the_end_to_end_benchmark_runs_with_and_without_commit_notices() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-e2e"), &["2", "1", "1"])?;
    for figure in ["baseline", "with commit notices", "polling Git", "ratio"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

#[test]
fn the_fanout_benchmark_reaches_three_domains() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-fanout"), &["3", "2"])?;
    for figure in ["every domain acknowledged", "baseline", "ratio"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

#[test]
fn the_intake_benchmark_runs() -> anyhow::Result<()> {
    let out = run(env!("CARGO_BIN_EXE_bench-intake"), &["4", "1"])?;
    for figure in ["orders/s", "inserts/s", "ratio", "idle afterwards"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

/// The rows of `bench-scale`'s table whose first column is one of `sizes`.
fn scale_rows(out: &str, sizes: &[&str]) -> usize {
    out.lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|f| sizes.contains(&f))
        })
        .count()
}

#[test]
fn the_scale_benchmark_prints_a_row_per_size() -> anyhow::Result<()> {
    // Its maestro process is the `maestro-node` binary built next to it for these tests.
    let out = run_with_env(
        env!("CARGO_BIN_EXE_bench-scale"),
        &["2", "3"],
        &[("BENCH_IDLE_SECS", "1")],
    )?;
    let rows = scale_rows(&out, &["2", "3"]);
    anyhow::ensure!(rows == 2, "expected a row per size in:\n{out}");
    Ok(())
}

#[test]
fn the_scale_benchmark_measures_open_orders_on_silent_sites() -> anyhow::Result<()> {
    // The orders settle once the domain reports its silent site unreachable (30 s).
    let out = run_with_env(
        env!("CARGO_BIN_EXE_bench-scale"),
        &["2"],
        &[("BENCH_IDLE_SECS", "1"), ("BENCH_SILENT_SITE", "1")],
    )?;
    anyhow::ensure!(
        out.contains("one silent site each"),
        "the mode is not named in:\n{out}"
    );
    let rows = scale_rows(&out, &["2"]);
    anyhow::ensure!(rows == 1, "expected one row in:\n{out}");
    Ok(())
}

#[test]
fn the_status_scale_benchmark_runs() -> anyhow::Result<()> {
    let out = run(
        env!("CARGO_BIN_EXE_bench-status-scale"),
        &["20", "3", "500"],
    )?;
    for figure in ["baseline", "records/s ingested", "p99", "ratios"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

#[test]
fn the_status_scale_benchmark_runs_its_sites_in_a_process_of_their_own() -> anyhow::Result<()> {
    let out = run(
        env!("CARGO_BIN_EXE_bench-status-scale"),
        &["12", "2", "500", "--sites-process"],
    )?;
    for figure in ["in the load process", "records/s ingested", "p99", "ratios"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    anyhow::ensure!(
        !out.contains(" 0 records in"),
        "the load process pushed nothing:\n{out}"
    );
    Ok(())
}

#[test]
fn the_site_footprint_benchmark_runs() -> anyhow::Result<()> {
    // Runs the agent through `maestro-node run site` (built with this package) unless a
    // `maestro-site` binary is next to the benchmark.
    maestro_testkit::git_servers::ensure_programs();
    let out = run(
        env!("CARGO_BIN_EXE_bench-site-footprint"),
        &["2", "500", "500", "1"],
    )?;
    for figure in ["VmRSS", "idle uplink", "threads", "per Git fetch"] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

#[test]
fn the_idle_benchmark_runs() -> anyhow::Result<()> {
    let out = run(
        env!("CARGO_BIN_EXE_bench-idle"),
        &[
            "1",
            "2",
            "1",
            "--settle-s",
            "1",
            "--converge",
            "--services",
            "2",
            "--stalled",
            "crash",
        ],
    )?;
    for figure in [
        "per site",
        "created -> completed",
        "idle with 2 service(s) on every site",
        // How the order spread: every share reached, both sites observed, both hops timed.
        "100 % ",
        "the sites observed it running: first",
        "(2 sites)",
        "the way back, per domain: its last site running -> the domain's status median",
        // The service that never converges, reported by both sites, then the CPU it costs.
        "the never-converging service reported by all 2 sites",
        "with a never-converging service (Crash) beside the 2 on every site",
    ] {
        anyhow::ensure!(out.contains(figure), "no {figure} figure in:\n{out}");
    }
    Ok(())
}

#[test]
fn every_benchmark_answers_help_with_its_usage() -> anyhow::Result<()> {
    let bins = [
        env!("CARGO_BIN_EXE_bench-e2e"),
        env!("CARGO_BIN_EXE_bench-fanout"),
        env!("CARGO_BIN_EXE_bench-idle"),
        env!("CARGO_BIN_EXE_bench-intake"),
        env!("CARGO_BIN_EXE_bench-rollout"),
        env!("CARGO_BIN_EXE_bench-scale"),
        env!("CARGO_BIN_EXE_bench-signed-state"),
        env!("CARGO_BIN_EXE_bench-site-footprint"),
        env!("CARGO_BIN_EXE_bench-spawn"),
        env!("CARGO_BIN_EXE_bench-status-latency"),
        env!("CARGO_BIN_EXE_bench-status-scale"),
        env!("CARGO_BIN_EXE_bench-tls-handshake"),
    ];
    for bin in bins {
        for flag in ["--help", "-h"] {
            let out = run(bin, &[flag])?;
            let name = std::path::Path::new(bin)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(bin);
            anyhow::ensure!(
                out.contains("Usage") && out.contains(name),
                "{bin} {flag} printed no usage naming itself:\n{out}"
            );
        }
    }
    Ok(())
}

/// `scripts/bench-all.sh --list`: the whole set the script runs, as (name, program, arguments).
fn bench_all_set() -> anyhow::Result<Vec<(String, String, String)>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/bench-all.sh");
    let out = run("bash", &[script, "--list"])?;
    out.lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let mut words = words.skip_while(|w| w.contains('='));
            let program = words
                .next()
                .ok_or_else(|| anyhow::anyhow!("no program in the line {line:?}"))?;
            let args: Vec<&str> = words.collect();
            Ok((name, program.to_string(), args.join(" ")))
        })
        .collect()
}

#[test]
fn the_whole_set_script_runs_each_benchmark_of_the_issue_as_the_docs_say() -> anyhow::Result<()> {
    let set = bench_all_set()?;
    let programs: std::collections::BTreeSet<&str> =
        set.iter().map(|(_, p, _)| p.as_str()).collect();
    let expected = [
        "bench-e2e",
        "bench-fanout",
        "bench-idle",
        "bench-intake",
        "bench-scale",
        "bench-site-footprint",
        "bench-status-scale",
    ];
    anyhow::ensure!(
        programs == expected.into_iter().collect(),
        "the set runs {programs:?}, not each of {expected:?}"
    );
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_bench-e2e"))
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no directory for the benchmark programs"))?;
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/performance.md"
    ))?;
    for (name, program, args) in &set {
        let bin = built.join(program);
        anyhow::ensure!(bin.is_file(), "{name}: {} is not built", bin.display());
        let command = format!("{program} {args}");
        anyhow::ensure!(
            docs.contains(&command),
            "{name}: `{command}` is not a command of docs/performance.md"
        );
    }
    Ok(())
}
