//! A network link a test can cut: a TCP relay on 127.0.0.1 in front of one server. A component
//! is configured with the relay's address instead of the server's; the test then cuts the link
//! the two ways real links fail and mends it:
//!
//! - [`Cut::Reset`]: every open connection is reset (RST on both sides) and every new one is
//!   reset as soon as it arrives — a peer that restarted, a firewall that rejects;
//! - [`Cut::Silent`]: nothing passes any more and nobody is told — open connections are
//!   blackholed (no byte, no FIN, no RST) and new ones are accepted but never answered, as on a
//!   link that drops packets or a NAT that forgot its mappings. Connections caught by a silent
//!   cut stay dead after the link is mended, as such flows do in the field: only the peers'
//!   own timeouts and keepalives get them out.
//!
//! Mending the link ([`Link::mend`]) lets new connections through again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How a link is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Connections are reset.
    Reset,
    /// Packets are dropped without a word.
    Silent,
}

/// The state of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Up,
    Down(Cut),
}

/// A TCP relay from a loopback port to `target`; stops when dropped.
pub struct Link {
    addr: SocketAddr,
    target: Arc<OnceLock<SocketAddr>>,
    state: watch::Sender<State>,
    accepted: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Link {
    /// Starts relaying 127.0.0.1:<ephemeral> to `target`, on the tokio runtime this is called
    /// from (it is not async, so that a config-writing closure can call it).
    pub fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let link = Self::listen()?;
        link.connect_to(target);
        Ok(link)
    }

    /// Binds the relay's port now and relays once [`Link::connect_to`] names the target (until
    /// then connections are reset). Binding before the servers pick their ports keeps the
    /// relay from taking a port one of them picked but has not bound yet.
    pub fn listen() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let (state, _) = watch::channel(State::Up);
        let stop = CancellationToken::new();
        let accepted = Arc::new(AtomicU64::new(0));
        let target = Arc::new(OnceLock::new());
        let link = Self {
            addr,
            target: target.clone(),
            state,
            accepted: accepted.clone(),
            stop: stop.clone(),
        };
        let states = link.state.clone();
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    () = stop.cancelled() => return,
                    conn = listener.accept() => conn,
                };
                let Ok((inbound, _)) = conn else { continue };
                accepted.fetch_add(1, Ordering::Relaxed);
                let _ = inbound.set_nodelay(true);
                let Some(to) = target.get().copied() else {
                    reset(inbound);
                    continue;
                };
                tokio::spawn(relay(inbound, to, states.subscribe(), stop.clone()));
            }
        });
        Ok(link)
    }

    /// The relay's address: give it to the component in place of the target's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Names the server behind the link (once; later calls are ignored).
    pub fn connect_to(&self, target: SocketAddr) {
        let _ = self.target.set(target);
    }

    /// The server behind the link, once named.
    pub fn target(&self) -> Option<SocketAddr> {
        self.target.get().copied()
    }

    /// Connections accepted so far (also those refused or blackholed by a cut).
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Cuts the link.
    pub fn cut(&self, how: Cut) {
        self.state.send_replace(State::Down(how));
    }

    /// Mends the link: new connections pass again.
    pub fn mend(&self) {
        self.state.send_replace(State::Up);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Resets a connection: with a zero linger, closing it sends RST instead of FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Holds a blackholed connection open without reading or writing until the link is dropped.
async fn blackhole(streams: Vec<TcpStream>, stop: CancellationToken) {
    stop.cancelled().await;
    drop(streams);
}

async fn relay(
    inbound: TcpStream,
    target: SocketAddr,
    mut state: watch::Receiver<State>,
    stop: CancellationToken,
) {
    let now = *state.borrow_and_update();
    match now {
        State::Down(Cut::Reset) => return reset(inbound),
        State::Down(Cut::Silent) => return blackhole(vec![inbound], stop).await,
        State::Up => {}
    }
    let Ok(outbound) = TcpStream::connect(target).await else {
        return reset(inbound);
    };
    let _ = outbound.set_nodelay(true);
    let (mut a, mut b) = (inbound, outbound);
    let cut = tokio::select! {
        () = stop.cancelled() => return,
        // One side closed or failed: the copy ends as the connection does.
        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => return,
        cut = wait_cut(&mut state) => cut,
    };
    match cut {
        Cut::Reset => {
            reset(a);
            reset(b);
        }
        Cut::Silent => blackhole(vec![a, b], stop).await,
    }
}

/// Waits until the link is cut; how.
async fn wait_cut(state: &mut watch::Receiver<State>) -> Cut {
    loop {
        let now = *state.borrow_and_update();
        if let State::Down(how) = now {
            return how;
        }
        if state.changed().await.is_err() {
            // The link was dropped; its stop token ends the relay.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server; its address.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut buf = vec![0; msg.len()];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn bytes_pass_while_the_link_is_up() {
        let link = Link::start(echo().await).unwrap();
        let mut s = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s, b"hello").await.unwrap(), b"hello");
        assert_eq!(link.connections(), 1);
    }

    #[tokio::test]
    async fn a_reset_cut_resets_open_and_new_connections_and_mending_lets_new_ones_pass() {
        let link = Link::start(echo().await).unwrap();
        let mut open = TcpStream::connect(link.addr()).await.unwrap();
        roundtrip(&mut open, b"x").await.unwrap();
        link.cut(Cut::Reset);
        let err = crate::within("a reset", crate::GUARD, roundtrip(&mut open, b"y"))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        let mut new = TcpStream::connect(link.addr()).await.unwrap();
        let err = crate::within("a reset", crate::GUARD, roundtrip(&mut new, b"z"))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        link.mend();
        let mut again = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut again, b"back").await.unwrap(), b"back");
    }

    #[tokio::test]
    async fn a_silent_cut_answers_nothing_and_its_flows_stay_dead_after_mending() {
        let link = Link::start(echo().await).unwrap();
        let mut open = TcpStream::connect(link.addr()).await.unwrap();
        roundtrip(&mut open, b"x").await.unwrap();
        link.cut(Cut::Silent);
        // Nothing comes back and nothing closes: the read is still pending when given up on.
        let quiet = Duration::from_millis(300);
        assert!(
            tokio::time::timeout(quiet, roundtrip(&mut open, b"y"))
                .await
                .is_err()
        );
        let mut new = TcpStream::connect(link.addr()).await.unwrap();
        assert!(
            tokio::time::timeout(quiet, roundtrip(&mut new, b"z"))
                .await
                .is_err()
        );
        link.mend();
        assert!(
            tokio::time::timeout(quiet, roundtrip(&mut open, b"still"))
                .await
                .is_err(),
            "a flow caught by a silent cut stays dead"
        );
        let mut fresh = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut fresh, b"ok").await.unwrap(), b"ok");
    }
}
