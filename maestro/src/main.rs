//! `maestro`: the central coordinator as a process. Configuration: defaults, then
//! `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>` variables, then these flags.

use clap::Parser;
use maestro_common::config::Flags;
use maestro_common::launch::ServiceArgs;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Serves service orders, the catalog and the domain registry until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "maestro", version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// gRPC listen address (key `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory of service specifications (key `catalog_dir`).
    #[arg(long, value_name = "DIR")]
    catalog_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let flags = Flags::new()
        .set("listen", a.listen)
        .set("catalog_dir", a.catalog_dir);
    a.service.run::<maestro::Config>(flags)
}
