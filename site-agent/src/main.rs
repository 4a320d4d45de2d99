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
                .set("log_server", a.log_server)
                .set("data_dir", a.service.data_dir);
            serve(Sources::from_process(a.service.config, flags))
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

/// Worker threads of the agent's runtime. A site does little at a time: its loops mostly wait,
/// and the embedded colony answers one agent. One worker serves them all; each more is a thread
/// with its stack and its own allocator arena, resident for the life of the process.
const WORKER_THREADS: usize = 1;
/// Most threads for blocking work at once (sled flushes, Git fetches, spawning processes).
const MAX_BLOCKING_THREADS: usize = 16;
/// How long a blocking thread without work is kept: long enough for a burst, short enough that an
/// idle site does not hold the threads of its last sync.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// The whole life of the agent (as `maestro_common::launch::main` runs every component), on a
/// runtime sized for a site.
fn serve(sources: Sources) -> ExitCode {
    use maestro_common::launch::{self, LaunchError};
    let config = match launch::load::<site_agent::Config>(&sources) {
        Ok(c) => c,
        Err(e) => return launch::report(&LaunchError::Config(e)),
    };
    // A panic ends this process (the `site` profile aborts); its report reaches the domain at
    // the next start.
    site_agent::panic_report::record_panics(&config.data_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            return launch::report(&LaunchError::Failed(format!(
                "starting the async runtime: {e}"
            )));
        }
    };
    match runtime.block_on(launch::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => launch::report(&e),
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
