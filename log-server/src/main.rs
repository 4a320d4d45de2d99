//! `maestro-log-server`: a domain's log server as a process. Configuration: defaults, then
//! `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>` variables, then these flags.

use clap::Parser;
use maestro_common::config::{Flags, Sources};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Serves a domain's log and status records until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "maestro-log-server", version, about)]
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
    /// The domain served (key `domain`).
    #[arg(long)]
    domain: Option<String>,
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let flags = Flags::new()
        .set("listen", a.listen)
        .set("data_dir", a.data_dir)
        .set("domain", a.domain);
    maestro_common::launch::main::<log_server::Config>(Sources::from_process(a.config, flags))
}
