//! A federation whose components run as separate child processes (`maestro-node run ...`), so a
//! test can SIGKILL one and start it again on the same data directory and ports.

use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One component process.
pub struct Node {
    /// Component name for messages, e.g. `domain north`.
    pub name: String,
    bin: PathBuf,
    component: &'static str,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(
        bin: &Path,
        name: String,
        component: &'static str,
        config: PathBuf,
        log: PathBuf,
    ) -> Self {
        Self {
            name,
            bin: bin.to_path_buf(),
            component,
            config,
            log,
            child: None,
        }
    }

    /// A process of `component` (`maestro`, `domain`, `log-server`, `site`) with `config` written
    /// to `dir/config.json` and its log at `dir/log.txt`; not started yet.
    pub fn with_config(
        bin: &Path,
        name: &str,
        component: &'static str,
        dir: &Path,
        config: &Value,
    ) -> anyhow::Result<Self> {
        let cfg = write_config(&dir.join("config.json"), config)?;
        Ok(Self::new(
            bin,
            name.to_string(),
            component,
            cfg,
            dir.join("log.txt"),
        ))
    }

    /// Starts the process (its stderr goes to a log file beside its config).
    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .args(["run", self.component, "--config"])
            .arg(&self.config)
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

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }
}

/// The components of one domain.
pub struct DomainNodes {
    /// Domain id.
    pub id: String,
    /// The domain's bare Git repository.
    pub remote: PathBuf,
    /// Site names.
    pub sites: Vec<String>,
    /// The log server.
    pub log_server: Node,
    /// The domain orchestrator.
    pub orchestrator: Node,
    /// One site agent per site.
    pub site_agents: Vec<Node>,
}

/// A federation of processes on loopback.
pub struct ProcessFederation {
    /// Root data directory.
    pub dir: PathBuf,
    /// maestro's URL.
    pub maestro_url: String,
    /// maestro.
    pub maestro: Node,
    /// The domains.
    pub domains: Vec<DomainNodes>,
}

/// Which component a config belongs to, for [`ProcessFederation::start_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// maestro.
    Maestro,
    /// A domain's log server.
    LogServer,
    /// A domain orchestrator.
    Domain,
    /// A site agent.
    Site,
}

/// A free loopback port (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn write_config(path: &Path, v: &Value) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(path.parent().context("config path has no parent")?)?;
    std::fs::write(path, serde_json::to_vec_pretty(v)?)?;
    Ok(path.to_path_buf())
}

impl ProcessFederation {
    /// Writes configs for `domains` × `sites_per_domain` under `dir` (the catalog from
    /// `catalog_src`) and starts every process. `bin` is the `maestro-node` binary.
    pub fn start(
        bin: &Path,
        dir: &Path,
        catalog_src: &Path,
        domains: &[&str],
        sites_per_domain: usize,
    ) -> anyhow::Result<Self> {
        Self::start_with(
            bin,
            dir,
            catalog_src,
            domains,
            sites_per_domain,
            |_, _, _| {},
        )
    }

    /// Like [`ProcessFederation::start`], but `tweak(component, domain, config)` may change each
    /// component's JSON config before it is written (`domain` is "" for maestro).
    pub fn start_with(
        bin: &Path,
        dir: &Path,
        catalog_src: &Path,
        domains: &[&str],
        sites_per_domain: usize,
        mut tweak: impl FnMut(Component, &str, &mut Value),
    ) -> anyhow::Result<Self> {
        let mut config = |component: Component, domain: &str, path: &Path, mut v: Value| {
            tweak(component, domain, &mut v);
            write_config(path, &v)
        };
        let catalog = dir.join("catalog");
        std::fs::create_dir_all(&catalog)?;
        for f in std::fs::read_dir(catalog_src)? {
            let f = f?;
            std::fs::copy(f.path(), catalog.join(f.file_name()))?;
        }
        let maestro_port = free_port()?;
        let maestro_url = format!("http://127.0.0.1:{maestro_port}");
        let cfg = config(
            Component::Maestro,
            "",
            &dir.join("maestro/config.json"),
            json!({
                "listen": format!("127.0.0.1:{maestro_port}"),
                "data_dir": dir.join("maestro/data"),
                "catalog_dir": catalog,
                "domain_unreachable_after_ms": 5000,
                "fanout_backoff_min_ms": 100,
                "fanout_backoff_max_ms": 1000,
            }),
        )?;
        let mut maestro = Node::new(
            bin,
            "maestro".into(),
            "maestro",
            cfg,
            dir.join("maestro/log.txt"),
        );
        let mut nodes = Vec::new();
        for d in domains {
            let base = dir.join(d);
            let log_port = free_port()?;
            let dom_port = free_port()?;
            let remote = base.join("remote.git");
            let sites: Vec<String> = (1..=sites_per_domain).map(|i| format!("{d}-{i}")).collect();
            let log_url = format!("http://127.0.0.1:{log_port}");
            let cfg = config(
                Component::LogServer,
                d,
                &base.join("log-server/config.json"),
                json!({"listen": format!("127.0.0.1:{log_port}"), "data_dir": base.join("log-server/data"), "domain": d}),
            )?;
            let log_server = Node::new(
                bin,
                format!("log-server {d}"),
                "log-server",
                cfg,
                base.join("log-server/log.txt"),
            );
            let cfg = config(
                Component::Domain,
                d,
                &base.join("orchestrator/config.json"),
                json!({
                    "domain": d,
                    "listen": format!("127.0.0.1:{dom_port}"),
                    "data_dir": base.join("orchestrator/data"),
                    "git_remote": remote,
                    "git_init_remote": true,
                    "sites": sites,
                    "labels": {"region": d, "tier": "edge"},
                    "region": d,
                    "log_server": log_url,
                    "maestro": maestro_url,
                    "heartbeat_interval_ms": 500,
                }),
            )?;
            let orchestrator = Node::new(
                bin,
                format!("domain {d}"),
                "domain",
                cfg,
                base.join("orchestrator/log.txt"),
            );
            let mut site_agents = Vec::new();
            for s in &sites {
                let cfg = config(
                    Component::Site,
                    d,
                    &base.join(format!("sites/{s}/config.json")),
                    json!({
                        "domain": d,
                        "site": s,
                        "data_dir": base.join(format!("sites/{s}/data")),
                        "git_remote": remote,
                        "sync_interval_ms": 300,
                        "log_server": log_url,
                        "heartbeat_interval_ms": 1000,
                    }),
                )?;
                site_agents.push(Node::new(
                    bin,
                    format!("site {s}"),
                    "site",
                    cfg,
                    base.join(format!("sites/{s}/log.txt")),
                ));
            }
            nodes.push(DomainNodes {
                id: (*d).to_string(),
                remote,
                sites,
                log_server,
                orchestrator,
                site_agents,
            });
        }
        maestro.start()?;
        for n in &mut nodes {
            n.log_server.start()?;
            n.orchestrator.start()?;
        }
        for n in &mut nodes {
            for s in &mut n.site_agents {
                s.start()?;
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            maestro_url,
            maestro,
            domains: nodes,
        })
    }

    /// The domain named `id`.
    pub fn domain(&mut self, id: &str) -> &mut DomainNodes {
        self.domains
            .iter_mut()
            .find(|d| d.id == id)
            .expect("domain exists in this federation")
    }

    /// Log tails of every process, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = format!("--- maestro\n{}\n", self.maestro.log_tail());
        for d in &self.domains {
            out += &format!(
                "--- {}\n{}\n",
                d.orchestrator.name,
                d.orchestrator.log_tail()
            );
            out += &format!("--- {}\n{}\n", d.log_server.name, d.log_server.log_tail());
            for s in &d.site_agents {
                out += &format!("--- {}\n{}\n", s.name, s.log_tail());
            }
        }
        out
    }
}
