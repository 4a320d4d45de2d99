//! A colony server that accepts connections and never answers (a silently dead link) fails each
//! call within the client's deadline instead of hanging it; a long-polling assign gets its
//! polling time on top.

use std::time::{Duration, Instant};

use colony::{ColonyClient, ColonyError, PrivateKey};

/// Accepts connections on loopback and holds them open without a byte in reply.
fn silent_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: the test makes three calls.
        for conn in listener.incoming().take(3) {
            held.push(conn);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    (addr, handle)
}

#[tokio::test]
async fn calls_to_a_silent_server_fail_within_the_deadline() {
    let (addr, _server) = silent_server();
    let deadline = Duration::from_millis(300);
    let client = ColonyClient::from_addr(addr).with_deadline(deadline);
    let key = PrivateKey::generate();

    let started = Instant::now();
    let err = client.get_colonies(&key).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, ColonyError::Transport(m) if m.contains("no reply within 300 ms")),
        "{err}"
    );
    assert!(took >= deadline && took < deadline * 5, "{took:?}");

    let started = Instant::now();
    assert!(client.health().await.is_err());
    assert!(started.elapsed() < deadline * 5);

    // A long poll of 1 s may take 1 s more than the deadline, not less.
    let started = Instant::now();
    let err = client.assign(&key, "c", 1).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ColonyError::Transport(_)), "{err}");
    assert!(took >= Duration::from_secs(1) + deadline, "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}
