//! What the self-healing loop waits on instead of looking: the exit of an instance whose exit no
//! launcher reports (adopted after a restart, or started by a launch helper that ended), by a
//! pidfd that becomes readable when the process ends; and new output of any instance, by inotify
//! on the output folder. Before, the loop read every recorded pid in `/proc`, the instance table
//! and every output file once a second, at every site, idle or not.

use std::collections::{BTreeSet, HashSet};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::fs::inotify;
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use super::runtime::is_alive;
use super::table::Instance;

/// Shortest pause between two forwarding rounds of new output: a process writing without pause
/// is read a few times a second, not at every write.
pub(super) const OUTPUT_GAP: Duration = Duration::from_millis(250);

/// How the exit of one instance is watched.
pub(super) enum ExitWatch {
    /// Ends when the process ends.
    Watching(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
    /// The process is gone already (or its pid now names another process).
    Gone,
    /// The kernel offers no pidfd for it: it is looked at in `/proc`.
    Unwatchable(std::io::Error),
}

/// Watches the exit of `instance`'s process.
pub(super) fn exit_of(instance: &Instance) -> ExitWatch {
    let Some(pid) = i32::try_from(instance.pid).ok().and_then(Pid::from_raw) else {
        return ExitWatch::Gone;
    };
    let fd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => return ExitWatch::Gone,
        Err(e) => return ExitWatch::Unwatchable(e.into()),
    };
    // The pid may have been taken by another process before the pidfd was opened; the pidfd
    // holds it now, so one look tells whether it is still the recorded instance.
    if !is_alive(instance) {
        return ExitWatch::Gone;
    }
    match readiness_of(fd) {
        Ok(fd) => ExitWatch::Watching(Box::pin(async move {
            // Readable once the process ended; an error ends the watch too, and the
            // convergence it asks for looks at the process itself.
            let _ = fd.readable().await;
        })),
        Err(e) => ExitWatch::Unwatchable(e),
    }
}

/// `fd` registered with Tokio's reactor for readability. Tokio now marks its safe constructor
/// deprecated for descriptors that could be closed or replaced while registered, and offers an
/// `unsafe` one instead, which the workspace forbids. An `OwnedFd` moved into the `AsyncFd` is
/// neither: it stays open and the same until the `AsyncFd` drops it, after deregistering it.
#[allow(deprecated)]
fn readiness_of(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::with_interest(fd, Interest::READABLE)
}

/// Instances whose exit is watched here: by pidfd, or looked at when the kernel has none.
#[derive(Debug, Default)]
pub(super) struct Watched {
    pids: HashSet<u32>,
    polled: Vec<Instance>,
}

impl Watched {
    /// Whether `instance` is watched already.
    pub(super) fn has(&self, instance: &Instance) -> bool {
        self.pids.contains(&instance.pid) || self.polled.iter().any(|p| p.pid == instance.pid)
    }

    /// `pid`'s watch by pidfd.
    pub(super) fn watching(&mut self, pid: u32) {
        self.pids.insert(pid);
    }

    /// `pid`'s watch ended.
    pub(super) fn ended(&mut self, pid: u32) {
        self.pids.remove(&pid);
    }

    /// `instance` is to be looked at in `/proc`.
    pub(super) fn poll(&mut self, instance: Instance) {
        self.polled.push(instance);
    }

    /// Whether some instance is looked at in `/proc`.
    pub(super) fn polls(&self) -> bool {
        !self.polled.is_empty()
    }

    /// The looked-at instances that are gone, no longer looked at.
    pub(super) fn gone(&mut self) -> Vec<Instance> {
        let (alive, gone) = std::mem::take(&mut self.polled)
            .into_iter()
            .partition(is_alive);
        self.polled = alive;
        gone
    }
}

/// Which output files changed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Changed {
    /// These instances' (by instance name).
    Some(BTreeSet<String>),
    /// Events were lost (the kernel's queue overflowed): any of them.
    All,
}

/// The output folder, watched for writes to `<instance>.log`.
#[derive(Debug)]
pub(super) struct OutputWatch {
    fd: AsyncFd<OwnedFd>,
    buf: Box<[MaybeUninit<u8>]>,
    next: Instant,
}

impl OutputWatch {
    /// Watches `dir` (made if missing).
    pub(super) fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?;
        inotify::add_watch(&fd, dir, inotify::WatchFlags::MODIFY)?;
        Ok(Self {
            fd: readiness_of(fd)?,
            buf: vec![MaybeUninit::uninit(); 4096].into_boxed_slice(),
            next: Instant::now(),
        })
    }

    /// The output files written since the last answer, once there is one, at most one answer
    /// per [`OUTPUT_GAP`]. Cancel-safe: events are read only after the last wait.
    pub(super) async fn changed(&mut self) -> std::io::Result<Changed> {
        tokio::time::sleep_until(self.next).await;
        loop {
            let mut ready = self.fd.readable().await?;
            let mut names = BTreeSet::new();
            let mut overflow = false;
            {
                let mut reader = inotify::Reader::new(ready.get_inner(), &mut self.buf);
                loop {
                    match reader.next() {
                        Ok(event) => {
                            let flags = event.events();
                            if flags.contains(inotify::ReadFlags::IGNORED) {
                                // The folder went (removed, or its file system unmounted):
                                // nothing more will be said of it.
                                return Err(std::io::Error::other(
                                    "the output folder is no longer watched",
                                ));
                            }
                            if flags.contains(inotify::ReadFlags::QUEUE_OVERFLOW) {
                                overflow = true;
                            } else if let Some(name) = event
                                .file_name()
                                .and_then(|n| n.to_str().ok())
                                .and_then(|n| n.strip_suffix(".log"))
                            {
                                names.insert(name.to_string());
                            }
                        }
                        Err(Errno::AGAIN) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            ready.clear_ready();
            if overflow || !names.is_empty() {
                self.next = Instant::now() + OUTPUT_GAP;
                return Ok(if overflow {
                    Changed::All
                } else {
                    Changed::Some(names)
                });
            }
        }
    }
}

/// The blueprint of instance `name` (`<blueprint>-<index>`), if it names one.
pub(super) fn blueprint_of(name: &str) -> Option<&str> {
    let (blueprint, index) = name.rsplit_once('-')?;
    (!blueprint.is_empty() && index.parse::<u32>().is_ok()).then_some(blueprint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn instance_of(child: &std::process::Child) -> Instance {
        let pid = child.id();
        Instance {
            blueprint: "web".into(),
            index: 0,
            pid,
            generation: 1,
            template: String::new(),
            started_at_ms: 0,
            start_ticks: super::super::runtime::proc_stat(pid).map(|s| s.start_ticks),
        }
    }

    #[tokio::test]
    async fn the_exit_of_a_process_is_seen_by_its_pidfd_and_a_gone_one_at_once() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let instance = instance_of(&child);
        let ExitWatch::Watching(ended) = exit_of(&instance) else {
            panic!("a live process is watched");
        };
        let mut ended = tokio::spawn(ended);
        let early = tokio::time::timeout(Duration::from_millis(200), &mut ended).await;
        assert!(early.is_err(), "the watch ended while the process ran");
        child.kill().unwrap();
        tokio::time::timeout(Duration::from_secs(10), ended)
            .await
            .expect("the watch ends when the process ends")
            .unwrap();
        child.wait().unwrap();
        assert!(matches!(exit_of(&instance), ExitWatch::Gone));
        // A recorded start time that is not the process's: another process took the pid.
        let other = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut reused = instance_of(&other);
        reused.start_ticks = reused.start_ticks.map(|t| t + 1);
        assert!(matches!(exit_of(&reused), ExitWatch::Gone));
        let mut other = other;
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[tokio::test]
    async fn writes_to_output_files_are_answered_by_instance_and_at_most_once_per_gap() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let mut watch = OutputWatch::new(&logs).unwrap();
        let append = |name: &str, line: &str| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logs.join(name))
                .unwrap();
            f.write_all(line.as_bytes()).unwrap();
        };
        append("web-0.log", "one\n");
        append("web-0.log.1", "rotated\n");
        append("db-main-1.log", "two\n");
        let first = tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .unwrap()
            .unwrap();
        let names = |n: &[&str]| Changed::Some(n.iter().map(|s| s.to_string()).collect());
        assert_eq!(first, names(&["db-main-1", "web-0"]));
        let answered = Instant::now();
        append("web-0.log", "three\n");
        let second = tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second, names(&["web-0"]));
        assert!(answered.elapsed() >= OUTPUT_GAP - Duration::from_millis(5));
        // Nothing written: no answer.
        let quiet = tokio::time::timeout(Duration::from_millis(600), watch.changed()).await;
        assert!(quiet.is_err(), "answered without a write: {quiet:?}");
        // The folder removed: an error, so that the loop falls back to looking.
        std::fs::remove_dir_all(&logs).unwrap();
        let gone = tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("the removal is answered");
        assert!(gone.is_err(), "{gone:?}");
    }

    #[test]
    fn an_instance_name_gives_its_blueprint() {
        assert_eq!(blueprint_of("web-0"), Some("web"));
        assert_eq!(blueprint_of("db-main-12"), Some("db-main"));
        assert_eq!(blueprint_of("web"), None);
        assert_eq!(blueprint_of("web-x"), None);
        assert_eq!(blueprint_of("-3"), None);
    }
}
