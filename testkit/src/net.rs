//! Loopback ports and a tiny HTTP/1.0 client for probing servers under test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (see [`free_addr`]).
pub fn free_port() -> u16 {
    free_addr().port()
}

/// A free address on 127.0.0.1 for a server a test starts later, often in a child process;
/// nothing listens on it yet.
///
/// Picking a port by binding port 0 and releasing it races with every other bind to port 0 and
/// every outgoing connection on the machine: the kernel may hand the released port to any of
/// them before the child binds it. So the port comes from just below the kernel's ephemeral
/// range (`ip_local_port_range`), where the kernel never hands out ports by itself. Within the
/// process no port is handed out twice; across test processes a lock on a file per port, held
/// until the process exits, keeps two of them from picking the same one. A port that something
/// already listens on is skipped. Falls back to port 0 when there is no room below the range.
pub fn free_addr() -> SocketAddr {
    reserved::port()
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("no free port on 127.0.0.1")
        })
}

/// The ports [`free_addr`] hands out, and their locks.
mod reserved {
    use nix::fcntl::{Flock, FlockArg};
    use std::fs::File;
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// How many ports below the ephemeral range are used.
    const SPAN: u16 = 8_000;
    /// The lowest port ever used.
    const FLOOR: u16 = 10_000;

    pub(super) struct State {
        /// The first port of the range and the offset of the next candidate in it.
        pub(super) first: u16,
        pub(super) next: u16,
        /// The locks of every port handed out, held until the process exits.
        pub(super) held: Vec<Flock<File>>,
    }

    static STATE: Mutex<Option<State>> = Mutex::new(None);

    /// The first port of the range used: `SPAN` ports below the ephemeral range.
    fn first_port() -> Option<u16> {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        let low: u16 = range.split_whitespace().next()?.parse().ok()?;
        low.checked_sub(SPAN).filter(|first| *first >= FLOOR)
    }

    /// Where the lock files live (shared by every test process of this user).
    fn lock_dir() -> PathBuf {
        std::env::temp_dir().join("maestro-test-ports")
    }

    /// The lock of `port`, when no other holder has it.
    pub(super) fn lock(port: u16) -> Option<Flock<File>> {
        let dir = lock_dir();
        std::fs::create_dir_all(&dir).ok()?;
        let file = File::options()
            .create(true)
            .write(true)
            .truncate(false)
            .open(dir.join(port.to_string()))
            .ok()?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()
    }

    /// A port below the ephemeral range that this process locked and nothing listens on;
    /// `None` when there is no such range.
    pub(super) fn port() -> Option<u16> {
        let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        if state.is_none() {
            let first = first_port()?;
            // Test processes start at different points of the range.
            let seed = std::process::id()
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
            *state = Some(State {
                first,
                next: (seed % u32::from(SPAN)) as u16,
                held: Vec::new(),
            });
        }
        take(state.as_mut()?)
    }

    /// The next port of `state`'s range that no other holder locked and nothing listens on.
    pub(super) fn take(state: &mut State) -> Option<u16> {
        for _ in 0..SPAN {
            let port = state.first + state.next;
            state.next = (state.next + 1) % SPAN;
            let Some(lock) = lock(port) else { continue };
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                state.held.push(lock);
                return Some(port);
            }
        }
        None
    }
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
    fn free_ports_are_below_the_ephemeral_range_distinct_and_locked() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            ports.len(),
            "a port handed out twice: {ports:?}"
        );
        for port in ports {
            assert!(port < low, "{port} is in the ephemeral range from {low}");
            // Another holder (another open of the file, as another process would) is refused.
            assert!(reserved::lock(port).is_none(), "{port} is not locked");
        }
    }

    #[test]
    fn a_port_another_holder_locked_is_skipped() {
        // Three ports locked as another test process would hold them.
        let start = free_port();
        let taken: Vec<(u16, _)> = (start..)
            .filter_map(|p| Some((p, reserved::lock(p)?)))
            .take(3)
            .collect();
        let mut state = reserved::State {
            first: taken[0].0,
            next: 0,
            held: Vec::new(),
        };
        let port = reserved::take(&mut state).unwrap();
        assert!(
            port > taken[2].0,
            "{port} is one of the locked {:?}",
            taken.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        assert!(reserved::lock(port).is_none(), "{port} is not locked");
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
