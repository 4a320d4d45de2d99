//! `colony-server`: the embedded colony server as a process.
//!
//! Arguments are parsed with clap; every setting also reads upstream ColonyOS v1.9.12's
//! environment name, a flag winning over its variable: `COLONIES_SERVER_ID` / `--server-id`
//! (server owner identity, required), `COLONIES_SERVER_HTTP_PORT` or the legacy
//! `COLONIES_SERVER_PORT` / `--port` (default 50080), `COLONIES_DATA_DIR` / `--data-dir`
//! (default `./colony-data`), `--listen <ip>` (default `0.0.0.0`). An empty variable counts as
//! unset. Invalid arguments exit 64.
//!
//! TLS: the certificate is `--tlscert`, else `COLONIES_TLSCERT`, else
//! `COLONIES_SERVER_HTTP_TLS_CERT`; the key is `--tlskey`, else `COLONIES_TLSKEY`, else
//! `COLONIES_SERVER_HTTP_TLS_KEY`. `COLONIES_TLS=true` turns TLS on (both files required),
//! `COLONIES_TLS=false` off; it wins over `--insecure` (TLS off), as upstream. With neither,
//! TLS is on exactly when both a certificate and a key are given.
//!
//! Retention, as upstream: `COLONIES_RETENTION=true` / `--retention true` removes, once a minute,
//! the successful processes that ended more than `COLONIES_RETENTION_POLICY` /
//! `--retention-policy` seconds ago (default 0), with their logs. Off by default.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use colony::{Retention, ServerConfig, TlsFiles, start};
use tokio_util::sync::CancellationToken;

const EX_CONFIG: u8 = 64;

/// The embedded ColonyOS server as a process (ColonyOS v1.9.12 protocol and environment).
#[derive(Debug, Parser)]
#[command(name = "colony-server", version, about)]
struct Args {
    /// Id of the server owner (the key that may add colonies).
    #[arg(long, env = "COLONIES_SERVER_ID", value_name = "ID")]
    server_id: String,
    /// HTTP port (default 50080).
    #[arg(long, env = "COLONIES_SERVER_HTTP_PORT", value_name = "PORT")]
    port: Option<String>,
    /// Legacy name of the port variable (used when `COLONIES_SERVER_HTTP_PORT` is not set).
    #[arg(long, env = "COLONIES_SERVER_PORT", hide = true)]
    legacy_port: Option<String>,
    /// Directory of the server's database.
    #[arg(long, env = "COLONIES_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// IP address to listen on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    listen: IpAddr,
    /// TLS certificate (PEM).
    #[arg(long, env = "COLONIES_TLSCERT", value_name = "FILE")]
    tlscert: Option<String>,
    /// Alternative name of the certificate variable.
    #[arg(long, env = "COLONIES_SERVER_HTTP_TLS_CERT", hide = true)]
    http_tls_cert: Option<String>,
    /// TLS private key (PEM).
    #[arg(long, env = "COLONIES_TLSKEY", value_name = "FILE")]
    tlskey: Option<String>,
    /// Alternative name of the key variable.
    #[arg(long, env = "COLONIES_SERVER_HTTP_TLS_KEY", hide = true)]
    http_tls_key: Option<String>,
    /// `true` turns TLS on (certificate and key required), `false` off; wins over `--insecure`.
    #[arg(long, env = "COLONIES_TLS", value_name = "true|false")]
    tls: Option<String>,
    /// Serve plain HTTP even when a certificate and a key are given.
    #[arg(long)]
    insecure: bool,
    /// `true` removes successful processes older than the retention policy; `false` (default)
    /// keeps every process.
    #[arg(long, env = "COLONIES_RETENTION", value_name = "true|false")]
    retention: Option<String>,
    /// Seconds a successful process is kept once it ended, when retention is on (default 0).
    #[arg(long, env = "COLONIES_RETENTION_POLICY", value_name = "SECONDS")]
    retention_policy: Option<String>,
}

/// An option's value, an empty one counting as unset (as upstream reads its environment).
fn given(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.is_empty())
}

fn config(args: Args) -> Result<ServerConfig, String> {
    let port = match given(args.port).or_else(|| given(args.legacy_port)) {
        Some(p) => p
            .parse::<u16>()
            .map_err(|e| format!("COLONIES_SERVER_HTTP_PORT/COLONIES_SERVER_PORT {p:?}: {e}"))?,
        None => colony::server::DEFAULT_PORT,
    };
    let data_dir = args
        .data_dir
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("colony-data"));
    let cert = given(args.tlscert)
        .or_else(|| given(args.http_tls_cert))
        .map(PathBuf::from);
    let key = given(args.tlskey)
        .or_else(|| given(args.http_tls_key))
        .map(PathBuf::from);
    let use_tls = match given(args.tls).as_deref() {
        Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(format!("COLONIES_TLS must be true or false, not {other:?}")),
        None => !args.insecure && cert.is_some() && key.is_some(),
    };
    let retain = match given(args.retention).as_deref() {
        Some("true") => true,
        Some("false") | None => false,
        Some(other) => {
            return Err(format!(
                "COLONIES_RETENTION must be true or false, not {other:?}"
            ));
        }
    };
    let policy = match given(args.retention_policy) {
        Some(p) => p
            .parse::<u64>()
            .map_err(|e| format!("COLONIES_RETENTION_POLICY {p:?}: {e}"))?,
        None => 0,
    };
    let mut config =
        ServerConfig::new(data_dir, args.server_id, SocketAddr::new(args.listen, port));
    if retain {
        config.retention = Retention {
            successful: Some(Duration::from_secs(policy)),
            unsuccessful: None,
        };
    }
    if use_tls {
        let cert = cert.ok_or(
            "TLS is on but no certificate: set --tlscert, COLONIES_TLSCERT or COLONIES_SERVER_HTTP_TLS_CERT",
        )?;
        let key = key.ok_or(
            "TLS is on but no key: set --tlskey, COLONIES_TLSKEY or COLONIES_SERVER_HTTP_TLS_KEY",
        )?;
        config.tls = Some(TlsFiles { cert, key });
    }
    Ok(config)
}

/// Parses the arguments; help and version exit 0, anything else invalid exits 64 in one line.
fn parse_args() -> Result<Args, ExitCode> {
    use clap::error::ErrorKind;
    Args::try_parse().map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty())
                .collect();
            let line = lines.join(" ");
            eprintln!(
                "colony-server: {}",
                line.strip_prefix("error: ").unwrap_or(&line)
            );
            ExitCode::from(EX_CONFIG)
        }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("colony-server: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let shutdown = CancellationToken::new();
    let server = match start(config, shutdown.clone()).await {
        Ok(s) => s,
        Err(e @ colony::ServerError::Tls(_)) => {
            eprintln!("colony-server: {e}");
            return ExitCode::from(EX_CONFIG);
        }
        Err(e) => {
            eprintln!("colony-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Handlers first: a signal sent as soon as the line below is read must stop us cleanly.
    let mut signals = Signals::install();
    eprintln!("colony-server listening on {} ({scheme})", server.addr);
    signals.next().await;
    shutdown.cancel();
    tokio::select! {
        _ = server.stopped() => ExitCode::SUCCESS,
        _ = signals.next() => ExitCode::FAILURE,
    }
}

/// SIGINT and SIGTERM, listened to from the moment [`Signals::install`] returns.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves on the next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match self.term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match self.int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            tokio::select! {
                () = term => {}
                () = int => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
