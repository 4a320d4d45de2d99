//! `maestro-domain`: a domain orchestrator as a process. Configuration: defaults, then
//! `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>` variables, then these flags.

use clap::Parser;
use maestro_common::config::{Flags, Sources};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Turns a domain's intents into blueprints in Git and follows its sites until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "maestro-domain", version, about)]
struct Args {
    /// Config file (TOML, YAML or JSON, by extension).
    #[arg(long, env = "MAESTRO_CONFIG_FILE", value_name = "FILE")]
    config: Option<PathBuf>,
    /// gRPC listen address (key `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory (key `data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
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
        .set("data_dir", a.data_dir)
        .set("domain", a.domain)
        .set("git_remote", a.git_remote)
        .set("maestro", a.maestro);
    maestro_common::launch::main::<domain_orchestrator::Config>(Sources::from_process(
        a.config, flags,
    ))
}
