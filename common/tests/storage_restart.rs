//! A component whose store failed is restarted by its launcher (sled refuses every write after
//! a failed one until the database is reopened), and a shutdown still ends it cleanly. In its own
//! test binary: the storage-failure signal is process-wide.

use maestro_common::FieldError;
use maestro_common::config::Validate;
use maestro_common::launch::{Service, StartError, Started, serve_until};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

static STARTS: AtomicUsize = AtomicUsize::new(0);
/// One permit per start.
static STARTED: Semaphore = Semaphore::const_new(0);

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct FailsItsStoreOnce;

impl Validate for FailsItsStoreOnce {
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

impl Service for FailsItsStoreOnce {
    const NAME: &'static str = "fake";
    const SERVICE: &'static str = "fake";

    async fn start(self, shutdown: CancellationToken) -> Result<Started, StartError> {
        let n = STARTS.fetch_add(1, Ordering::SeqCst) + 1;
        let task = tokio::spawn(async move {
            if n == 1 {
                let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
                maestro_common::durable::note_failure(&sled::Error::Io(full));
            }
            shutdown.cancelled().await;
        });
        STARTED.add_permits(1);
        Ok(Started {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            task,
        })
    }
}

#[tokio::test]
async fn a_component_whose_store_failed_is_started_again_and_still_stops_on_request() {
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(serve_until(FailsItsStoreOnce, shutdown.clone()));
    let guard = Duration::from_secs(30);
    tokio::time::timeout(guard, STARTED.acquire_many(2))
        .await
        .expect("the component starts, then starts again after its store failed")
        .expect("the semaphore is never closed")
        .forget();
    assert_eq!(STARTS.load(Ordering::SeqCst), 2);
    shutdown.cancel();
    let ended = tokio::time::timeout(guard, run).await.expect("it stops");
    assert!(ended.unwrap().is_ok());
    assert_eq!(
        STARTS.load(Ordering::SeqCst),
        2,
        "no restart after shutdown"
    );
}
