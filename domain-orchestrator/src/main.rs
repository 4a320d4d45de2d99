//! `maestro-domain`: a domain orchestrator as a process. Configuration: defaults, then
//! `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>` variables, then these flags.

use clap::Parser;
use maestro_common::config::Flags;
use maestro_common::launch::ServiceArgs;
use std::net::SocketAddr;

/// Turns a domain's intents into blueprints in Git and follows its sites until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "maestro-domain", version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// gRPC listen address (key `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The domain (key `domain`).
    #[arg(long)]
    domain: Option<String>,
    /// The domain's Git repository, a URL or a path (key `git_remote`).
    #[arg(long, value_name = "URL")]
    git_remote: Option<String>,
    /// Maestro's endpoint to register with (key `maestro`).
    #[arg(long, value_name = "URL")]
    maestro: Option<String>,
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let flags = Flags::new()
        .set("listen", a.listen)
        .set("domain", a.domain)
        .set("git_remote", a.git_remote)
        .set("maestro", a.maestro);
    a.service.run::<domain_orchestrator::Config>(flags)
}
