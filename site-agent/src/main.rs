//! `maestro-site`: the site agent (with its embedded colony and reconcilers) as a process.
//! Configuration: defaults, then `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>`
//! variables, then these flags.

use clap::Parser;
use maestro_common::config::Flags;
use maestro_common::launch::ServiceArgs;

/// Syncs the site's blueprints from Git into its colony, reconciles them and reports to the
/// domain's log server until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "maestro-site", version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// The site (key `site`).
    #[arg(long)]
    site: Option<String>,
    /// The domain (key `domain`).
    #[arg(long)]
    domain: Option<String>,
    /// The domain's Git repository, a URL or a path (key `git_remote`).
    #[arg(long, value_name = "URL")]
    git_remote: Option<String>,
    /// The domain's log server endpoint (key `log_server`).
    #[arg(long, value_name = "URL")]
    log_server: Option<String>,
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let flags = Flags::new()
        .set("site", a.site)
        .set("domain", a.domain)
        .set("git_remote", a.git_remote)
        .set("log_server", a.log_server);
    a.service.run::<site_agent::Config>(flags)
}
