//! `maestroctl dev`: the whole federation in this process, optionally running the demo order.

mod demo;
mod federation;
mod liveness;
pub mod pki;

pub use demo::{DEMO_ORDER, DemoOutcome, demo_request, run_demo, wait_for_domains};
pub use federation::{
    ComponentKind, ComponentTask, DEFAULT_CATALOG, DevDomain, DevError, DevOptions, DevSite,
    Federation, STOP_GRACE, StopReport, domain_name, start_federation, write_default_catalog,
};

use crate::args::DevArgs;
use crate::commands::{emit, note};
use crate::error::{CliError, CliResult};
use crate::table::Table;
use std::time::Duration;

/// The endpoints of a federation as a table.
pub fn endpoints_table(fed: &Federation) -> String {
    let mut t = Table::new(&["COMPONENT", "NAME", "ENDPOINT", "DATA"]);
    t.row(vec![
        "maestro".into(),
        "maestro".into(),
        fed.maestro_url.clone(),
        fed.data_dir.join("maestro").display().to_string(),
    ]);
    for d in &fed.domains {
        t.row(vec![
            "log-server".into(),
            d.id.clone(),
            d.log_server_url.clone(),
            String::new(),
        ]);
        t.row(vec![
            "domain".into(),
            d.id.clone(),
            d.endpoint.clone(),
            d.remote_repo.display().to_string(),
        ]);
        for s in &d.sites {
            t.row(vec![
                "site".into(),
                s.name.clone(),
                format!("colony {}", s.colony_addr),
                s.data_dir.display().to_string(),
            ]);
        }
    }
    t.render()
}

/// Logs at `warn` unless `RUST_LOG` or an OTLP endpoint asks for more (then the shared telemetry).
fn init_logging() -> Option<maestro_common::telemetry::TelemetryGuard> {
    let otlp = crate::run::otlp_endpoint();
    if otlp.is_some() || std::env::var_os("RUST_LOG").is_some() {
        return Some(maestro_common::telemetry::init(
            "maestroctl-dev",
            otlp.as_deref(),
        ));
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .try_init();
    None
}

/// This executable as the sites' launch helper (`main` serves as one when asked).
fn launch_helper() -> CliResult<site_agent::HelperCommand> {
    site_agent::HelperCommand::this_executable()
        .map_err(|e| CliError::Failed(format!("finding this executable: {e}")))
}

/// `maestroctl dev`.
pub async fn run_dev(args: DevArgs) -> CliResult<()> {
    let _telemetry = init_logging();
    let data_dir = match args.data {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("maestro-dev-")
            .tempdir()
            .map_err(|e| CliError::Failed(format!("creating a temporary data dir: {e}")))?
            .keep(),
    };
    emit(&format!("data dir: {}\n", data_dir.display()));
    let opts = DevOptions {
        domains: args.domains as usize,
        sites_per_domain: args.sites_per_domain as usize,
        insecure: args.insecure,
        launch_helper: Some(launch_helper()?),
        ..DevOptions::new(&data_dir)
    };
    let signals = maestro_common::shutdown::on_signals();
    let started = std::time::Instant::now();
    // Its own root token: a signal ends the wait below, then `stop` shuts down tier by tier.
    let mut fed = start_federation(opts, tokio_util::sync::CancellationToken::new())
        .await
        .map_err(|e| match e {
            DevError::Options(_) => CliError::Config(e.to_string()),
            other => CliError::Failed(other.to_string()),
        })?;
    emit(&endpoints_table(&fed));
    emit(&format!(
        "maestroctl settings: {}\n  export MAESTROCTL_CONFIG={}\n",
        if fed.tls.is_some() {
            "mutual TLS as operator dev (admin)"
        } else {
            "plaintext (--insecure)"
        },
        fed.cli_settings.display()
    ));
    let result = if args.demo {
        let deadline = Duration::from_secs(args.demo_timeout);
        let mut print = |line: &str| emit(&format!("{line}\n"));
        tokio::select! {
            r = run_demo(&fed, deadline, &mut print) => r.map(|o| {
                emit(&format!(
                    "demo order {} completed: {:.1}s from order creation to completed, {:.1}s wall time\n",
                    o.order_id,
                    o.order_to_completed.as_secs_f64(),
                    started.elapsed().as_secs_f64()
                ));
            }),
            _ = signals.cancelled() => Err(CliError::Failed("interrupted before the demo finished".into())),
        }
    } else {
        emit("federation running; Ctrl-C to stop\n");
        signals.cancelled().await;
        Ok(())
    };
    note("stopping the federation...");
    let report = fed.stop().await;
    note(&format!(
        "stopped; {} workload process(es) stopped",
        report.workloads_stopped
    ));
    let mut problems = Vec::new();
    if !report.timed_out.is_empty() {
        problems.push(format!(
            "did not stop in time: {}",
            report.timed_out.join(", ")
        ));
    }
    if !report.failed.is_empty() {
        problems.push(format!("crashed: {}", report.failed.join(", ")));
    }
    problems.extend(
        report
            .workload_errors
            .iter()
            .map(|e| format!("stopping workloads: {e}")),
    );
    match (result, problems.is_empty()) {
        (Err(e), _) => {
            for p in &problems {
                note(&format!("warning: {p}"));
            }
            Err(e)
        }
        (Ok(()), true) => Ok(()),
        (Ok(()), false) => Err(CliError::Failed(format!(
            "shutdown: {}",
            problems.join("; ")
        ))),
    }
}
