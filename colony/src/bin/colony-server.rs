//! `colony-server`: the embedded colony server as a process.
//!
//! Configured like upstream ColonyOS v1.9.12: `COLONIES_SERVER_ID` (server owner identity,
//! required), `COLONIES_SERVER_HTTP_PORT` or the legacy `COLONIES_SERVER_PORT` (default 50080),
//! `COLONIES_DATA_DIR` or `--data-dir <dir>` (default `./colony-data`), `--listen <ip>`
//! (default `0.0.0.0`).
//!
//! TLS: the certificate is `--tlscert`, else `COLONIES_TLSCERT`, else
//! `COLONIES_SERVER_HTTP_TLS_CERT`; the key is `--tlskey`, else `COLONIES_TLSKEY`, else
//! `COLONIES_SERVER_HTTP_TLS_KEY`. `COLONIES_TLS=true` turns TLS on (both files required),
//! `COLONIES_TLS=false` off; it wins over `--insecure` (TLS off), as upstream. With neither,
//! TLS is on exactly when both a certificate and a key are given.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use colony::{ServerConfig, TlsFiles, start};
use tokio_util::sync::CancellationToken;

const EX_CONFIG: u8 = 64;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn config() -> Result<ServerConfig, String> {
    let server_id = std::env::var("COLONIES_SERVER_ID")
        .map_err(|_| "COLONIES_SERVER_ID must be set to the server owner's id".to_owned())?;
    let port = match env("COLONIES_SERVER_HTTP_PORT").or_else(|| env("COLONIES_SERVER_PORT")) {
        Some(p) => p
            .parse::<u16>()
            .map_err(|e| format!("COLONIES_SERVER_HTTP_PORT/COLONIES_SERVER_PORT {p:?}: {e}"))?,
        None => colony::server::DEFAULT_PORT,
    };
    let mut data_dir = std::env::var("COLONIES_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("colony-data"));
    let mut ip: IpAddr = IpAddr::from([0, 0, 0, 0]);
    let mut cert: Option<PathBuf> = None;
    let mut key: Option<PathBuf> = None;
    let mut insecure = false;
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
            "--tlscert" => {
                cert = Some(
                    args.next()
                        .map(PathBuf::from)
                        .ok_or("--tlscert needs a file")?,
                )
            }
            "--tlskey" => {
                key = Some(
                    args.next()
                        .map(PathBuf::from)
                        .ok_or("--tlskey needs a file")?,
                )
            }
            "--insecure" => insecure = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let cert = cert.or_else(|| {
        env("COLONIES_TLSCERT")
            .or_else(|| env("COLONIES_SERVER_HTTP_TLS_CERT"))
            .map(PathBuf::from)
    });
    let key = key.or_else(|| {
        env("COLONIES_TLSKEY")
            .or_else(|| env("COLONIES_SERVER_HTTP_TLS_KEY"))
            .map(PathBuf::from)
    });
    let use_tls = match env("COLONIES_TLS").as_deref() {
        Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(format!("COLONIES_TLS must be true or false, not {other:?}")),
        None => !insecure && cert.is_some() && key.is_some(),
    };
    let mut config = ServerConfig::new(data_dir, server_id, SocketAddr::new(ip, port));
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
    eprintln!("colony-server listening on {} ({scheme})", server.addr);
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
