//! `maestro-log-server`: a domain's log server as a process. Configuration: defaults, then
//! `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>` variables, then these flags.

use clap::Parser;
use maestro_common::config::Flags;
use maestro_common::launch::ServiceArgs;
use std::net::SocketAddr;

/// Serves a domain's log and status records until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "maestro-log-server", version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// gRPC listen address (key `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The domain served (key `domain`).
    #[arg(long)]
    domain: Option<String>,
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let flags = Flags::new().set("listen", a.listen).set("domain", a.domain);
    a.service.run::<log_server::Config>(flags)
}
