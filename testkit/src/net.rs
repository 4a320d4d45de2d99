//! Loopback ports and a tiny HTTP/1.0 client for probing servers under test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (bound, then released, so a child process can take it).
pub fn free_port() -> u16 {
    free_addr().port()
}

/// A free address on 127.0.0.1 (bound, then released); nothing listens on it yet.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
}

/// `GET path` on 127.0.0.1:`port` over plain HTTP/1.0 (blocking, short timeouts); the body, or
/// None while nothing answers with an HTTP reply.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// [`http_get`] off the async runtime's worker threads.
pub async fn http_get_async(port: u16, path: &str) -> Option<String> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http_get(port, &path))
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn http_get_reads_the_body() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            assert!(request.starts_with(b"GET / HTTP/1.0\r\n"));
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
        });
        assert_eq!(http_get(port, "/").as_deref(), Some("hello"));
        server.join().unwrap();
        assert_eq!(http_get(free_port(), "/"), None);
    }
}
