//! Child processes of the real binaries: a [`Node`] a test starts, SIGKILLs and starts again on
//! the same config with its output in a log file, and a [`Serving`] binary that announces its
//! address on its first stdout line. Every child is stopped when its owner drops.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// How long a child gets to stop after SIGTERM before it is SIGKILLed.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Sends `signal` to `pid`; a process that is already gone is no error.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

/// SIGTERMs `child` and reaps it; SIGKILLs it when it has not exited within `grace`, and then
/// fails. Returns how it exited.
pub fn terminate(child: Child, grace: Duration) -> anyhow::Result<ExitStatus> {
    stop_with(child, nix::sys::signal::Signal::SIGTERM, grace)
}

/// Sends `sig` to `child` and reaps it; SIGKILLs it when it has not exited within `grace`, and
/// then fails. Returns how it exited.
pub fn stop_with(
    child: Child,
    sig: nix::sys::signal::Signal,
    grace: Duration,
) -> anyhow::Result<ExitStatus> {
    let pid = child.id();
    signal(pid, sig);
    let (tx, rx) = mpsc::channel();
    let mut child = child;
    let reaper = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let result = match rx.recv_timeout(grace) {
        Ok(status) => Ok(status?),
        Err(_) => {
            signal(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = rx.recv();
            Err(anyhow::anyhow!(
                "pid {pid} did not stop within {grace:?} of {sig}; SIGKILLed"
            ))
        }
    };
    let _ = reaper.join();
    result
}

/// A component process started from a program and arguments, its stdout and stderr appended to a
/// log file; SIGTERMed (then SIGKILLed after [`STOP_GRACE`]) when dropped.
pub struct Node {
    /// Name for messages, e.g. `domain north`.
    pub name: String,
    program: PathBuf,
    args: Vec<OsString>,
    log: PathBuf,
    env: Vec<(OsString, OsString)>,
    child: Option<Child>,
}

impl Node {
    /// A process of `program args`, logging to `log`; not started yet.
    pub fn new(
        name: &str,
        program: &Path,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log: &Path,
    ) -> Self {
        Self {
            name: name.to_string(),
            program: program.to_path_buf(),
            args: args.into_iter().map(Into::into).collect(),
            log: log.to_path_buf(),
            env: Vec::new(),
            child: None,
        }
    }

    /// Adds environment variables the process starts with (on top of this process's).
    pub fn with_env(mut self, vars: &[(OsString, OsString)]) -> Self {
        self.env.extend(vars.iter().cloned());
        self
    }

    /// Starts the process (again, after [`Node::kill9`]).
    pub fn start(&mut self) -> anyhow::Result<()> {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the process and reaps it (see [`terminate`]); Ok(None) when it was not running.
    pub fn stop(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child
            .take()
            .map(|c| terminate(c, STOP_GRACE))
            .transpose()
    }

    /// Where its output goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last 30 lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 30)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("{}: {e:#}", self.name);
        }
    }
}

/// The last `n` lines of the file at `path` ("" when it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A child binary that printed `<prefix><address>` as its first line on stdout; SIGTERMed when
/// dropped.
pub struct Serving {
    /// The address it announced.
    pub addr: String,
    child: Option<Child>,
}

impl Serving {
    /// Spawns `command` with stdout piped and waits up to `timeout` for its first line, which
    /// must start with `prefix`; the rest of the line is the address. The child is killed when
    /// the line does not come.
    pub fn spawn(command: &mut Command, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .context("spawning the binary")?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(BufReader::new(stdout).lines().next());
        });
        let line = match rx.recv_timeout(timeout) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("no first line within {timeout:?}: {other:?}");
            }
        };
        let Some(addr) = line.strip_prefix(prefix) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("first line {line:?} does not start with {prefix:?}");
        };
        Ok(Self {
            addr: addr.trim().to_string(),
            child: Some(child),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGTERMs it and waits up to `grace` for its exit (see [`terminate`]), blocking the thread.
    pub fn terminate(self, grace: Duration) -> anyhow::Result<ExitStatus> {
        self.signal_and_wait(nix::sys::signal::Signal::SIGTERM, grace)
    }

    /// Sends `sig` (e.g. SIGINT) and waits up to `grace` for its exit (see [`stop_with`]).
    pub fn signal_and_wait(
        mut self,
        sig: nix::sys::signal::Signal,
        grace: Duration,
    ) -> anyhow::Result<ExitStatus> {
        let child = self.child.take().context("already stopped")?;
        stop_with(child, sig, grace)
    }

    /// Like [`Serving::terminate`], off the async runtime's thread, so the test's own connections
    /// to the binary can close while it drains.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let child = self.child.take().context("already stopped")?;
        tokio::task::spawn_blocking(move || terminate(child, grace)).await?
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = terminate(child, STOP_GRACE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_reads_the_address_and_stops_on_sigterm() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo 'up on 127.0.0.1:9'; exec sleep 600"]);
        let s = Serving::spawn(&mut cmd, "up on ", Duration::from_secs(10)).unwrap();
        assert_eq!(s.addr, "127.0.0.1:9");
        let status = s.terminate(Duration::from_secs(10)).unwrap();
        assert!(!status.success(), "sleep dies of SIGTERM");
    }

    #[test]
    fn a_wrong_first_line_fails() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo hello; exec sleep 600"]);
        let err = Serving::spawn(&mut cmd, "up on ", Duration::from_secs(10))
            .err()
            .expect("fails");
        assert!(err.to_string().contains("hello"), "{err}");
    }

    #[test]
    fn a_node_restarts_and_keeps_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("n/log.txt");
        let mut node = Node::new("echo", Path::new("/bin/sh"), ["-c", "echo ran"], &log);
        for _ in 0..2 {
            node.start().unwrap();
            let status = node.child.take().unwrap().wait().unwrap();
            assert!(status.success());
        }
        assert_eq!(node.log_tail(), "ran\nran");
        assert!(node.pid().is_none());
    }
}
