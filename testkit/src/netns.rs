//! Hosts and links for multi-host tests: Linux network namespaces the test creates (named with a
//! prefix of its own), veth links between them with addresses, routes and iptables rules inside
//! them, programs started in a namespace (`ip netns exec`), and code run on a thread that joined
//! one (so its sockets live there). Every namespace is deleted when its guard drops.
//!
//! Invariants: nothing is changed outside the namespaces made here (addresses, routes and rules
//! are set only with `ip -n <ns>` / inside them); each run names its namespaces after its process
//! id, so parallel runs do not meet.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::process::Command;

use anyhow::{Context, bail};

/// Runs `ip ARGS` and fails with its stderr.
pub fn ip<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(Command::new("ip").args(args))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Fails loudly unless this process may create network namespaces (root, `ip` present).
pub fn ensure_available() -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "network namespace tests need root (CI runs as root)"
    );
    run(Command::new("ip").arg("-V")).context("iproute2's `ip` is missing")?;
    run(Command::new("iptables").arg("-V")).context("`iptables` is missing")
}

/// One network namespace; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up.
    pub fn add(name: &str) -> anyhow::Result<Self> {
        // A namespace left by a killed earlier run of the same pid would make `add` fail.
        let _ = ip(["netns", "del", name]);
        ip(["netns", "add", name])?;
        let ns = Self {
            name: name.to_string(),
        };
        ns.ip(["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> ARGS`.
    pub fn ip<I, S>(&self, args: I) -> anyhow::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("ip");
        cmd.arg("-n").arg(&self.name).args(args);
        run(&mut cmd)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `program ARGS` inside the namespace to completion; fails with its stderr.
    pub fn exec<I, S>(&self, program: &str, args: I) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(program);
        cmd.args(args);
        let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
        if !out.status.success() {
            bail!(
                "{cmd:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Adds an iptables rule inside the namespace (`iptables ARGS`).
    pub fn iptables(&self, args: &[&str]) -> anyhow::Result<()> {
        self.exec("iptables", args).map(|_| ())
    }

    /// Runs `f` on a new thread that joined this namespace (sockets it opens live here), with a
    /// current-thread Tokio runtime for the future `f` makes; returns what the future returns.
    pub fn block_on<T, F, Fut>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || -> anyhow::Result<T> {
            let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("joining {path}"))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(f()))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in namespace panicked"))?
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(["netns", "del", &self.name]) {
            eprintln!("deleting namespace {}: {e:#}", self.name);
        }
    }
}

/// Links `a` and `b` with a veth pair: interface `a_if` with `a_addr` (CIDR) in `a`, `b_if` with
/// `b_addr` in `b`, both up. The pair is made directly inside the two namespaces.
pub fn link(
    a: &Netns,
    a_if: &str,
    a_addr: &str,
    b: &Netns,
    b_if: &str,
    b_addr: &str,
) -> anyhow::Result<()> {
    ip([
        "link",
        "add",
        a_if,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])?;
    a.ip(["addr", "add", a_addr, "dev", a_if])?;
    b.ip(["addr", "add", b_addr, "dev", b_if])?;
    a.ip(["link", "set", a_if, "up"])?;
    b.ip(["link", "set", b_if, "up"])
}
