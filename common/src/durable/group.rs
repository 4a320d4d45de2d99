//! Group commit: the flush requests of one database that arrive while a flush of it runs wait
//! for the next flush, and that one flush serves them all.
//!
//! Per database, a driver task runs while requests wait: it takes every waiting request, runs one
//! flush on Tokio's blocking pool, answers each taken request with its result, and goes on
//! while more arrived meanwhile. A request never joins a flush that already started.
//!
//! A driver that ends without finishing (its runtime shut down) gives its database up all the
//! same: the requests left waiting get an error, and the next request starts a driver of its
//! own rather than waiting for one that is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::sync::oneshot;

/// The answer a flush gives each request it served.
type Answer = Result<usize, sled::Error>;

/// Requests waiting for the next flush of one database.
type Waiting = Vec<oneshot::Sender<Answer>>;

/// Flush requests grouped by database (named by a key the caller chooses).
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    /// A database is here exactly while its driver runs: the requests its next flush serves.
    waiting: Mutex<HashMap<usize, Waiting>>,
    /// Flushes run so far.
    done: AtomicU64,
}

/// The process's groups, which [`super::flush`] uses.
pub(crate) fn shared() -> &'static Arc<GroupCommit> {
    static SHARED: OnceLock<Arc<GroupCommit>> = OnceLock::new();
    SHARED.get_or_init(Arc::default)
}

impl GroupCommit {
    /// Waits for a flush of database `key` that starts after this call, run with `flush` (the
    /// same database's flush for every request of a key), and returns its result.
    pub(crate) async fn flush<F>(self: &Arc<Self>, key: usize, flush: F) -> Answer
    where
        F: Fn() -> Answer + Send + Sync + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut waiting = self.lock();
            match waiting.get_mut(&key) {
                Some(requests) => {
                    requests.push(tx);
                    false
                }
                None => {
                    waiting.insert(key, vec![tx]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(Driver::new(self.clone(), key, flush).run());
        }
        rx.await.unwrap_or_else(|_| {
            Err(sled::Error::ReportableBug(
                "the flush serving this request ended without an answer".into(),
            ))
        })
    }

    /// Flushes runs so far.
    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The flushes of one database while requests wait. It holds the database's key in
/// [`GroupCommit::waiting`] from before it is spawned until it is dropped, however it ends.
struct Driver<F> {
    groups: Arc<GroupCommit>,
    key: usize,
    /// The database's flush (it holds a handle of the database, whose address is the key: the
    /// key is given up in `drop`, before this field goes, so no other database takes the
    /// address while the key is held).
    flush: Arc<F>,
    /// The driver gave its key up itself, seeing no request left.
    finished: bool,
}

impl<F> Driver<F>
where
    F: Fn() -> Answer + Send + Sync + 'static,
{
    fn new(groups: Arc<GroupCommit>, key: usize, flush: F) -> Self {
        Self {
            groups,
            key,
            flush: Arc::new(flush),
            finished: false,
        }
    }

    /// Runs flushes while requests wait, then leaves.
    async fn run(mut self) {
        loop {
            let batch = {
                let mut waiting = self.groups.lock();
                match waiting.get_mut(&self.key) {
                    Some(requests) if !requests.is_empty() => std::mem::take(requests),
                    _ => {
                        waiting.remove(&self.key);
                        self.finished = true;
                        return;
                    }
                }
            };
            let run = self.flush.clone();
            let answer = match tokio::task::spawn_blocking(move || run()).await {
                Ok(answer) => answer,
                Err(join) => Err(sled::Error::ReportableBug(format!(
                    "flush task failed: {join}"
                ))),
            };
            self.groups.done.fetch_add(1, Ordering::Relaxed);
            for request in batch {
                // A request whose caller went away needs no answer.
                let _ = request.send(answer.clone());
            }
        }
    }
}

impl<F> Drop for Driver<F> {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped before it saw no request left: the requests still waiting get an error
            // (their senders go with the entry) and the next request starts a new driver.
            self.groups.lock().remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Answer, GroupCommit};
    use std::future::Future;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};

    /// A flush that counts its runs and blocks each run until `gate` lets it go.
    fn gated(runs: Arc<AtomicU64>, gate: Arc<Barrier>, fail: bool) -> impl Fn() -> Answer {
        move || {
            gate.wait();
            let n = runs.fetch_add(1, Ordering::SeqCst);
            if fail {
                Err(sled::Error::Io(std::io::Error::other("disk gone")))
            } else {
                Ok(usize::try_from(n).unwrap_or(0))
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn requests_made_during_a_flush_share_the_next_one() {
        let groups = Arc::new(GroupCommit::default());
        let runs = Arc::new(AtomicU64::new(0));
        // Each run waits for this test to let it go, so requests pile up behind the first.
        let gate = Arc::new(Barrier::new(2));
        let first = {
            let (g, f) = (groups.clone(), gated(runs.clone(), gate.clone(), false));
            tokio::spawn(async move { g.flush(1, f).await })
        };
        // The first flush runs (its driver took the first request) once the map holds an
        // empty list for the key again.
        let started = async {
            loop {
                let empty = groups
                    .waiting
                    .lock()
                    .unwrap()
                    .get(&1)
                    .is_some_and(Vec::is_empty);
                if empty {
                    return;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), started)
            .await
            .unwrap();
        let later: Vec<_> = (0..10)
            .map(|_| {
                let (g, f) = (groups.clone(), gated(runs.clone(), gate.clone(), false));
                tokio::spawn(async move { g.flush(1, f).await })
            })
            .collect();
        let queued = async {
            while groups.waiting.lock().unwrap().get(&1).map_or(0, Vec::len) < 10 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), queued)
            .await
            .unwrap();
        let releaser = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.wait(); // the first flush
                gate.wait(); // the one flush of the ten requests
            })
        };
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for request in later {
            // All ten were served by the second flush, which started after they were made.
            assert_eq!(request.await.unwrap().unwrap(), 1);
        }
        releaser.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(groups.done(), 2);
        assert!(groups.waiting.lock().unwrap().is_empty());
    }

    #[test]
    fn a_driver_whose_runtime_shut_down_gives_its_database_up() {
        let groups = Arc::new(GroupCommit::default());
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        // A driver spawned and never run: its runtime ends right after the request's first poll.
        let rt = runtime();
        rt.block_on(async {
            let mut request = Box::pin(groups.flush(3, || Ok(0)));
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(request.as_mut().poll(cx)));
            assert!(first.await.is_pending());
        });
        drop(rt);
        assert!(groups.lock().is_empty(), "the key is given up");
        // A driver in the middle of a flush when its runtime ends.
        let gate = Arc::new(Barrier::new(2));
        let runs = Arc::new(AtomicU64::new(0));
        let rt = runtime();
        let request = rt.spawn({
            let (g, f) = (groups.clone(), gated(runs.clone(), gate.clone(), false));
            async move { g.flush(3, f).await }
        });
        rt.block_on(async {
            // The driver took the request: the key's list is empty again while it flushes.
            while !groups.lock().get(&3).is_some_and(Vec::is_empty) {
                tokio::task::yield_now().await;
            }
        });
        rt.shutdown_background();
        gate.wait();
        assert!(groups.lock().is_empty(), "the key is given up");
        drop(request);
        // The next request of the same database starts a driver of its own and is served.
        let rt = runtime();
        let answer = rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                groups.flush(3, || Ok(9)),
            )
            .await
        });
        assert_eq!(answer.expect("served, not left waiting").unwrap(), 9);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_flush_fails_every_request_it_served_and_the_next_one_runs_afresh() {
        let groups = Arc::new(GroupCommit::default());
        let runs = Arc::new(AtomicU64::new(0));
        let open = Arc::new(Barrier::new(1));
        let requests: Vec<_> = (0..8)
            .map(|_| {
                let (g, f) = (groups.clone(), gated(runs.clone(), open.clone(), true));
                tokio::spawn(async move { g.flush(7, f).await })
            })
            .collect();
        for request in requests {
            let e = request.await.unwrap().unwrap_err();
            assert!(matches!(e, sled::Error::Io(_)), "{e:?}");
        }
        assert!(runs.load(Ordering::SeqCst) <= 8);
        let ok = groups
            .flush(7, gated(runs.clone(), open.clone(), false))
            .await;
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_on_a_real_database_are_all_durable_with_fewer_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let callers = 64;
        let before;
        {
            let db = sled::open(dir.path()).unwrap();
            before = super::shared().done();
            // Half of the callers write another tree of the database, as an audit log beside
            // a store does: a flush is of the database and serves both halves.
            let writes: Vec<_> = (0..callers)
                .map(|i| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        let tree = if i % 2 == 0 { "a" } else { "b" };
                        let tree = db.open_tree(tree).unwrap();
                        tree.insert(format!("k{i}"), vec![7u8; 512]).unwrap();
                        crate::durable::flush(&db).await.unwrap();
                    })
                })
                .collect();
            for w in writes {
                w.await.unwrap();
            }
            // Other tests of this process may flush too: the count is an upper bound.
            let flushes = super::shared().done() - before;
            assert!(flushes >= 1);
            // Without sharing there would be one flush per caller.
            assert!(flushes < callers, "{flushes} flushes for {callers} callers");
            // sled writes asynchronously on drop: only what was flushed is certain.
            std::mem::forget(db);
        }
        let copy = tempfile::tempdir().unwrap();
        crate::durable::copy_as_crashed(dir.path(), copy.path());
        let db = sled::open(copy.path()).unwrap();
        for i in 0..callers {
            let tree = db.open_tree(if i % 2 == 0 { "a" } else { "b" }).unwrap();
            assert!(tree.get(format!("k{i}")).unwrap().is_some(), "k{i} lost");
        }
    }
}
