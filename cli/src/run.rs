//! `maestroctl run maestro|domain|log-server|site --config FILE`: loads the component's `Config`
//! (defaults, file, `MAESTRO_<KEY>` env), starts it and serves until SIGINT/SIGTERM.

use crate::args::Component;
use crate::error::{CliError, CliResult};
use maestro_common::config::{ConfigError, load};
use std::net::SocketAddr;
use std::path::Path;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Environment prefix of component config overrides.
pub const ENV_PREFIX: &str = "MAESTRO_";

/// The process environment as UTF-8 pairs (non-UTF-8 variables are skipped, never a panic).
pub fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The OTLP endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`, when set and not empty.
pub fn otlp_endpoint() -> Option<String> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Loads the config of a component; every failure is a configuration error (exit 64).
pub fn load_config<T>(file: Option<&Path>, env: Vec<(String, String)>) -> CliResult<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Default,
{
    load::<T>(file, ENV_PREFIX, env).map_err(|e: ConfigError| CliError::Config(e.to_string()))
}

/// Runs one component until a signal; the process exits when it has drained.
pub async fn run_component(component: Component, file: Option<&Path>) -> CliResult<()> {
    let env = environment();
    let otlp = otlp_endpoint();
    match component {
        Component::Maestro => {
            let config: maestro::Config = load_config(file, env)?;
            let _telemetry = maestro_common::telemetry::init("maestro", otlp.as_deref());
            let shutdown = maestro_common::shutdown::on_signals();
            let running = maestro::run(config, shutdown.clone())
                .await
                .map_err(|e| start_error("maestro", &e))?;
            serve("maestro", running.addr, running.task, shutdown).await
        }
        Component::Domain => {
            let config: domain_orchestrator::Config = load_config(file, env)?;
            let _telemetry =
                maestro_common::telemetry::init("domain-orchestrator", otlp.as_deref());
            let shutdown = maestro_common::shutdown::on_signals();
            let running = domain_orchestrator::run(config, shutdown.clone())
                .await
                .map_err(|e| {
                    if matches!(e, domain_orchestrator::Error::Config(_)) {
                        CliError::Config(format!("domain orchestrator: {e}"))
                    } else {
                        start_error("domain orchestrator", &e)
                    }
                })?;
            serve("domain orchestrator", running.addr, running.task, shutdown).await
        }
        Component::LogServer => {
            let config: log_server::Config = load_config(file, env)?;
            let _telemetry = maestro_common::telemetry::init("log-server", otlp.as_deref());
            let shutdown = maestro_common::shutdown::on_signals();
            let running = log_server::run(config, shutdown.clone())
                .await
                .map_err(|e| {
                    if matches!(e, log_server::Error::Config(_)) {
                        CliError::Config(format!("log server: {e}"))
                    } else {
                        start_error("log server", &e)
                    }
                })?;
            serve("log server", running.addr, running.task, shutdown).await
        }
        Component::Site => {
            let config: site_agent::Config = load_config(file, env)?;
            let _telemetry = maestro_common::telemetry::init("site-agent", otlp.as_deref());
            let shutdown = maestro_common::shutdown::on_signals();
            let running = site_agent::run(config, shutdown.clone())
                .await
                .map_err(|e| {
                    if matches!(e, site_agent::Error::Config(_)) {
                        CliError::Config(format!("site agent: {e}"))
                    } else {
                        start_error("site agent", &e)
                    }
                })?;
            serve("site agent", running.addr, running.task, shutdown).await
        }
    }
}

fn start_error(what: &str, e: &dyn std::fmt::Display) -> CliError {
    CliError::Failed(format!("starting {what}: {e}"))
}

/// Waits for the component's task; an end before shutdown was requested is a failure.
async fn serve(
    what: &str,
    addr: SocketAddr,
    task: JoinHandle<()>,
    shutdown: CancellationToken,
) -> CliResult<()> {
    tracing::info!(%addr, "{what} running; SIGINT/SIGTERM to stop");
    crate::commands::emit(&format!("{what} serving on {addr}\n"));
    let joined = task.await;
    if let Err(e) = joined {
        return Err(CliError::Failed(format!("{what} task failed: {e}")));
    }
    if !shutdown.is_cancelled() {
        return Err(CliError::Failed(format!(
            "{what} stopped unexpectedly (see the log above)"
        )));
    }
    tracing::info!("{what} stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_configs_load_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("domain.yaml");
        std::fs::write(
            &file,
            "domain: north\nsites: [north-1]\ngit_remote: /tmp/x.git\n",
        )
        .unwrap();
        let env = vec![("MAESTRO_REGION".to_string(), "eu-north".to_string())];
        let c: domain_orchestrator::Config = load_config(Some(&file), env).unwrap();
        assert_eq!(c.domain, "north");
        assert_eq!(c.sites, vec!["north-1"]);
        assert_eq!(c.region, "eu-north");
        std::fs::write(&file, "domian: north\n").unwrap();
        let e = load_config::<domain_orchestrator::Config>(Some(&file), Vec::new()).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("domian"), "{e}");
        let e = load_config::<maestro::Config>(Some(&dir.path().join("none.toml")), Vec::new())
            .unwrap_err();
        assert_eq!(e.exit_code(), 64);
    }
}
