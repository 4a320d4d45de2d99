//! The server programs (from `scripts/git-servers.sh`), server processes killed by pid on
//! drop, and bare repositories a server serves.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// Runs `scripts/git-servers.sh` once per test binary (it installs nginx, fcgiwrap,
/// openssh-server, openssh-client and git when missing); panics with its output when it fails,
/// so a test never passes without the servers.
pub fn ensure_programs() {
    crate::scripts::ensure("git-servers.sh", "the Git server programs");
}

/// The absolute path of a server program (sshd insists on one), looked up in the sbin folders.
pub(crate) fn program(name: &str) -> anyhow::Result<PathBuf> {
    ensure_programs();
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!("{name} not found (scripts/git-servers.sh should have installed it)")
}

/// A server process, SIGTERMed (then SIGKILLed) by pid when dropped; its output goes to `log`.
pub(crate) struct ServerProcess {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self {
            name: name.to_string(),
            log: log.to_path_buf(),
            child: Some(child),
        })
    }

    /// Fails (with the log's tail) when the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{} exited ({status}):\n{}", self.name, tail.join("\n"));
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = crate::binary::terminate(child, Duration::from_secs(10));
        }
    }
}

/// Creates the bare repository `root/<name>.git` with HEAD on `main`, accepting pushes over
/// HTTP; returns its path.
pub(crate) fn bare_repo(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = root.join(format!("{name}.git"));
    let repo = git2::Repository::init_bare(&path)?;
    repo.set_head("refs/heads/main")?;
    let mut config = repo.config()?;
    config.set_bool("http.receivepack", true)?;
    Ok(path)
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, failing early when
/// `process` exits.
pub(crate) async fn wait_listening(process: &mut ServerProcess, port: u16) -> anyhow::Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening_at(process, addr, None).await
}

/// Waits until something accepts TCP connections on `addr`, seen from namespace `netns` when
/// given; fails early when `process` exits.
pub(crate) async fn wait_listening_at(
    process: &mut ServerProcess,
    addr: std::net::SocketAddr,
    netns: Option<&crate::netns::Netns>,
) -> anyhow::Result<()> {
    let what = format!("{} to listen on {addr}", process.name);
    let connects =
        move || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok();
    crate::wait::until(what, crate::GUARD, async || {
        process.check_running()?;
        let up = match netns {
            Some(ns) => ns.block_on(move || async move { connects() })?,
            None => connects(),
        };
        Ok(up.then_some(()))
    })
    .await
}
