//! Process entry: parse arguments, build the runtime, dispatch, turn the outcome into an exit code.

use crate::args::{CatalogCommand, Cli, Command, DomainCommand, IntentCommand, OrderCommand};
use crate::client::MaestroClient;
use crate::commands;
use crate::error::{self, CliError, CliResult, EXIT_USAGE};
use crate::settings::{self, Overrides};
use clap::Parser;
use std::process::ExitCode;

/// Runs `maestroctl` with the process arguments and returns its exit status; or, when `dev`
/// started this executable again as its sites' launch helper, serves as that.
pub fn main_entry() -> ExitCode {
    if site_agent::launch::serve_if_helper() {
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse().and_then(Cli::check) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return error::report(&CliError::Failed(format!(
                "starting the async runtime: {e}"
            )));
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e),
    }
}

/// Help and version go to stdout with status 0; usage errors are one line with status 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            commands::note(&format!("error: {first} (see --help)"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Runs a parsed command line.
pub async fn execute(cli: Cli) -> CliResult<()> {
    let overrides = Overrides {
        maestro: cli.maestro,
        output: cli.output,
        timeout: cli.timeout,
        tls_ca: cli.tls_ca,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
    };
    let settings = || settings::resolve(cli.config.as_deref(), overrides.clone());
    let client = || -> CliResult<(MaestroClient, crate::output::Output)> {
        let s = settings()?;
        Ok((MaestroClient::new(&s)?, s.output))
    };
    match cli.command {
        Command::Order(cmd) => {
            let (c, out) = client()?;
            match cmd {
                OrderCommand::Create { file, wait } => {
                    commands::order::create(&c, &file, wait, out).await
                }
                OrderCommand::Plan { file } => commands::order::plan(&c, &file, out).await,
                OrderCommand::Get { id } => commands::order::get(&c, &id, out).await,
                OrderCommand::List { state, limit } => {
                    commands::order::list(&c, state, limit, out).await
                }
                OrderCommand::Watch { id } => commands::order::watch(&c, &id, out).await,
                OrderCommand::Rollback {
                    id,
                    idempotency_key,
                    wait,
                } => {
                    commands::order::rollback(&c, &id, idempotency_key.as_deref(), wait, out).await
                }
                OrderCommand::Cancel { id, reason } => {
                    commands::order::cancel(&c, &id, &reason, out).await
                }
            }
        }
        Command::Domain(DomainCommand::List) => {
            let (c, out) = client()?;
            commands::domain::list(&c, out).await
        }
        Command::Intent(IntentCommand::List { domain }) => {
            let (c, out) = client()?;
            commands::intent::list(&c, &domain, out).await
        }
        Command::Catalog(cmd) => {
            let (c, out) = client()?;
            match cmd {
                CatalogCommand::List => commands::catalog::list(&c, out).await,
                CatalogCommand::Get { id } => commands::catalog::get(&c, &id, out).await,
            }
        }
        Command::Logs(args) => {
            let (c, out) = client()?;
            commands::logs::stream(&c, &args.order, args.follow, out).await
        }
        Command::Run(args) => {
            crate::run::run_component(args.component, args.config.as_deref()).await
        }
        Command::Dev(args) => crate::dev::run_dev(args).await,
        Command::Pki(cmd) => commands::pki::run(cmd, || Ok(settings()?.output)),
        Command::Keys(cmd) => commands::keys::run(cmd),
        Command::Audit(cmd) => commands::audit::run(cmd, client).await,
        Command::Rollout(cmd) => {
            let (c, out) = client()?;
            commands::rollout::run(&c, cmd, out).await
        }
    }
}
