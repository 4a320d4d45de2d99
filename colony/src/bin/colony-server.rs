//! `colony-server`: the embedded colony server as a process.
//!
//! Configured by `COLONIES_SERVER_ID` (server owner identity, required),
//! `COLONIES_SERVER_PORT` (default 50080), `COLONIES_DATA_DIR` or `--data-dir <dir>`
//! (default `./colony-data`) and `--listen <ip>` (default `0.0.0.0`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use colony::{ServerConfig, start};
use tokio_util::sync::CancellationToken;

const EX_CONFIG: u8 = 64;

fn config() -> Result<ServerConfig, String> {
    let server_id = std::env::var("COLONIES_SERVER_ID")
        .map_err(|_| "COLONIES_SERVER_ID must be set to the server owner's id".to_owned())?;
    let port = match std::env::var("COLONIES_SERVER_PORT") {
        Ok(p) => p
            .parse::<u16>()
            .map_err(|e| format!("COLONIES_SERVER_PORT {p:?}: {e}"))?,
        Err(_) => colony::server::DEFAULT_PORT,
    };
    let mut data_dir = std::env::var("COLONIES_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("colony-data"));
    let mut ip: IpAddr = IpAddr::from([0, 0, 0, 0]);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                data_dir = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--data-dir needs a value")?;
            }
            "--listen" => {
                let v = args.next().ok_or("--listen needs an IP address")?;
                ip = v.parse().map_err(|e| format!("--listen {v:?}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(ServerConfig::new(
        data_dir,
        server_id,
        SocketAddr::new(ip, port),
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("colony-server: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let shutdown = CancellationToken::new();
    let server = match start(config, shutdown.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("colony-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("colony-server listening on {}", server.addr);
    terminated().await;
    shutdown.cancel();
    tokio::select! {
        _ = server.stopped() => ExitCode::SUCCESS,
        _ = terminated() => ExitCode::FAILURE,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
