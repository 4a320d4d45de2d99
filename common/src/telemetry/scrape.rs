//! The endpoint Prometheus scrapes: `GET /metrics` over plain HTTP/1.1 on its own address
//! (`metrics_listen` in every component's config), one request per connection. It serves
//! numbers only — no state, no secrets — so it has no TLS; bind it where only the scraper
//! reaches it.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Longest request head read.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Longest time a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` and serves `GET /metrics` until `shutdown`; returns the bound address.
pub async fn serve(addr: SocketAddr, shutdown: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                () = shutdown.cancelled() => return,
                conn = listener.accept() => conn,
            };
            if let Ok((stream, _)) = conn {
                tokio::spawn(answer(stream));
            }
        }
    });
    tracing::info!(addr = %bound, "metrics for Prometheus on http://{bound}/metrics");
    Ok(bound)
}

async fn answer(mut stream: TcpStream) {
    let Ok(Some(head)) = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await else {
        return;
    };
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", super::metrics::render()),
        ("GET", _) => (
            "404 Not Found",
            "not found; metrics are at /metrics\n".to_string(),
        ),
        _ => ("405 Method Not Allowed", "only GET\n".to_string()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The request head (up to the blank line), or None when it is too long or the client left.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > MAX_REQUEST_BYTES {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}
