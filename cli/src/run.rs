//! `maestroctl run maestro|domain|log-server|site --config FILE`: the same start-up as the thin
//! binaries (`maestro`, `maestro-domain`, `maestro-log-server`, `maestro-site`), kept for
//! compatibility. Config: defaults, the file, then `MAESTRO_<KEY>` variables (`__` nests), see
//! `maestro_common::config`; serves until SIGINT/SIGTERM.

use crate::args::Component;
use crate::error::{CliError, CliResult};
use maestro_common::config::{ConfigError, Flags, Sources};
use maestro_common::launch::{self, LaunchError, Service};
use std::path::Path;

/// Environment prefix of component config overrides.
pub const ENV_PREFIX: &str = maestro_common::config::ENV_PREFIX;

/// The OTLP endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`, when set and not empty.
pub fn otlp_endpoint() -> Option<String> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Loads and validates the config of a component; every failure is a configuration error
/// (exit 64).
pub fn load_config<T: Service>(sources: &Sources) -> CliResult<T> {
    launch::load::<T>(sources).map_err(|e: ConfigError| CliError::Config(e.to_string()))
}

/// Runs one component until a signal; the process exits when it has drained.
pub async fn run_component(component: Component, file: Option<&Path>) -> CliResult<()> {
    let sources = Sources::from_process(file.map(Path::to_path_buf), Flags::new());
    match component {
        Component::Maestro => serve::<maestro::Config>(&sources).await,
        Component::Domain => serve::<domain_orchestrator::Config>(&sources).await,
        Component::LogServer => serve::<log_server::Config>(&sources).await,
        Component::Site => serve::<site_agent::Config>(&sources).await,
    }
}

async fn serve<T: Service>(sources: &Sources) -> CliResult<()> {
    let config = load_config::<T>(sources)?;
    launch::serve(config).await.map_err(|e| match e {
        LaunchError::Config(_) | LaunchError::Rejected(_) => CliError::Config(e.to_string()),
        LaunchError::Failed(m) => CliError::Failed(m),
    })
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
            "domain: north\nsites: [north-1]\ngit_remote: /tmp/x.git\ntls: {insecure: true}\n",
        )
        .unwrap();
        let env = vec![
            ("MAESTRO_REGION".to_string(), "eu-north".to_string()),
            ("MAESTRO_LABELS__TIER".to_string(), "edge".to_string()),
            ("MAESTRO_ADDR".to_string(), "http://cli-only:1".to_string()),
        ];
        let sources = Sources {
            file: Some(file.clone()),
            env,
            flags: Flags::new(),
        };
        let c: domain_orchestrator::Config = load_config(&sources).unwrap();
        assert_eq!(c.domain, "north");
        assert_eq!(c.sites, vec!["north-1"]);
        assert_eq!(c.region, "eu-north");
        assert_eq!(c.labels.get("tier").map(String::as_str), Some("edge"));
        std::fs::write(&file, "domian: north\n").unwrap();
        let e = load_config::<domain_orchestrator::Config>(&sources).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("domian"), "{e}");
        std::fs::write(&file, "domain: north\nsites: [north-1]\n").unwrap();
        let e = load_config::<domain_orchestrator::Config>(&sources).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().contains("git_remote"), "{e}");
        let missing = Sources {
            file: Some(dir.path().join("none.toml")),
            ..Sources::default()
        };
        let e = load_config::<maestro::Config>(&missing).unwrap_err();
        assert_eq!(e.exit_code(), 64);
    }
}
