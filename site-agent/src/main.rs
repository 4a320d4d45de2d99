//! `maestro-site`: the site agent (with its embedded colony and reconcilers) as a process.
//! Configuration: defaults, then `--config FILE` (TOML, YAML or JSON), then `MAESTRO_<KEY>`
//! variables, then these flags. `maestro-site pause --reason TEXT` and `maestro-site resume`
//! hold and release disruptive changes at the site (see `site_agent::pause`); they find the
//! agent's data dir through the same configuration.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use maestro_common::config::{EXIT_CONFIG, Flags, Sources};
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pauses disruptive changes at this site: the agent keeps running what it runs and applies
    /// no new commit until `resume`. Takes effect at the agent's next sync, without a restart.
    Pause {
        #[command(flatten)]
        service: ServiceArgs,
        /// Why, for the domain to see in every heartbeat (one line, at most 1024 bytes).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Lifts the local pause: the agent applies the latest commit at its next sync.
    Resume {
        #[command(flatten)]
        service: ServiceArgs,
    },
}

fn main() -> ExitCode {
    let a = Args::parse();
    match a.command {
        None => {
            let flags = Flags::new()
                .set("site", a.site)
                .set("domain", a.domain)
                .set("git_remote", a.git_remote)
                .set("log_server", a.log_server);
            a.service.run::<site_agent::Config>(flags)
        }
        Some(Command::Pause { service, reason }) => local(a.service, service, |dir| {
            let p = site_agent::pause::pause(dir, &reason, maestro_common::time::now_millis())?;
            Ok(format!(
                "paused since {}: {}; the agent applies no new commit from its next sync",
                maestro_common::time::rfc3339(p.since_ms),
                p.reason
            ))
        }),
        Some(Command::Resume { service }) => local(a.service, service, |dir| {
            Ok(if site_agent::pause::resume(dir)? {
                "resumed; the agent applies the latest commit at its next sync".to_string()
            } else {
                "not paused".to_string()
            })
        }),
    }
}

/// Runs `act` on the agent's data dir (from the flags given before or after the subcommand,
/// the config file and `MAESTRO_DATA_DIR`) and prints what it says: exit 0; 64 for a bad
/// argument or config, naming it; 1 for anything else.
fn local(
    outer: ServiceArgs,
    inner: ServiceArgs,
    act: impl FnOnce(&std::path::Path) -> Result<String, site_agent::Error>,
) -> ExitCode {
    let sources = Sources::from_process(
        inner.config.or(outer.config),
        Flags::new().set("data_dir", inner.data_dir.or(outer.data_dir)),
    );
    let config: site_agent::Config = match maestro_common::config::load(&sources) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_CONFIG as u8, &format!("invalid config: {e}")),
    };
    match act(&config.data_dir) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e @ (site_agent::Error::Invalid(_) | site_agent::Error::Config(_))) => {
            fail(EXIT_CONFIG as u8, &e.to_string())
        }
        Err(e) => fail(1, &e.to_string()),
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}
