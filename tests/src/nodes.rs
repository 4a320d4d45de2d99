//! A federation whose components run as separate child processes (`maestro-node run ...`), so a
//! test can SIGKILL one and start it again on the same data directory and ports. The process
//! handling is the test kit's [`Node`].

use crate::api::MaestroApi;
use anyhow::Context;
use maestro_testkit::net::free_port;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use maestro_testkit::binary::Node;

/// A `maestro-node run <component> --config <config>` process named `name`, its log at `log`;
/// not started yet.
fn component(bin: &Path, name: String, component: &str, config: PathBuf, log: PathBuf) -> Node {
    let args = vec![
        OsString::from("run"),
        component.into(),
        "--config".into(),
        config.into(),
    ];
    Node::new(&name, bin, args, &log)
}

/// A process of `component` (`maestro`, `domain`, `log-server`, `site`) with `config` written to
/// `dir/config.json` and its log at `dir/log.txt`; not started yet.
pub fn with_config(
    bin: &Path,
    name: &str,
    component_name: &'static str,
    dir: &Path,
    config: &Value,
) -> anyhow::Result<Node> {
    let cfg = write_config(&dir.join("config.json"), config)?;
    Ok(component(
        bin,
        name.to_string(),
        component_name,
        cfg,
        dir.join("log.txt"),
    ))
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
    /// The domain's signing key (the orchestrator signs with it, the sites pin its public key).
    pub signing: maestro_cli::dev::pki::DevSigningKey,
}

/// A federation of processes on loopback, with mutual TLS on every hop (certificates of a CA
/// under `<dir>/pki`, as `maestroctl dev` makes them).
pub struct ProcessFederation {
    /// Root data directory.
    pub dir: PathBuf,
    /// maestro's API as the `dev` operator (admin) sees it.
    pub api: MaestroApi,
    /// Every component's certificate.
    pub pki: maestro_cli::dev::pki::DevTls,
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

impl Component {
    /// Its short name: `maestro`, `domain`, `log-server` or `site`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Maestro => "maestro",
            Self::LogServer => "log-server",
            Self::Domain => "domain",
            Self::Site => "site",
        }
    }
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
        tweak: impl FnMut(Component, &str, &mut Value),
    ) -> anyhow::Result<Self> {
        Self::start_with_env(bin, dir, catalog_src, domains, sites_per_domain, &[], tweak)
    }

    /// Like [`ProcessFederation::start_with`], every process started with the variables `env`
    /// added to its environment.
    pub fn start_with_env(
        bin: &Path,
        dir: &Path,
        catalog_src: &Path,
        domains: &[&str],
        sites_per_domain: usize,
        env: &[(OsString, OsString)],
        mut tweak: impl FnMut(Component, &str, &mut Value),
    ) -> anyhow::Result<Self> {
        let component = |bin: &Path, name: String, c: &str, config: PathBuf, log: PathBuf| {
            component(bin, name, c, config, log).with_env(env)
        };
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
        let site_names = |d: &str| -> Vec<String> {
            (1..=sites_per_domain).map(|i| format!("{d}-{i}")).collect()
        };
        let all_sites: Vec<(String, String)> = domains
            .iter()
            .flat_map(|d| site_names(d).into_iter().map(|s| (d.to_string(), s)))
            .collect();
        let names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let pki = maestro_cli::dev::pki::prepare(dir, &names, &all_sites)?;
        let tls = |s: &maestro_common::tls::TlsSettings| serde_json::to_value(s);
        let maestro_port = free_port();
        let maestro_url = format!("https://127.0.0.1:{maestro_port}");
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
                "tls": tls(&pki.maestro)?,
                "operator_policy": pki.policy,
            }),
        )?;
        let mut maestro = component(
            bin,
            "maestro".into(),
            "maestro",
            cfg,
            dir.join("maestro/log.txt"),
        );
        let mut nodes = Vec::new();
        for d in domains {
            let base = dir.join(d);
            let log_port = free_port();
            let dom_port = free_port();
            let remote = base.join("remote.git");
            let sites = site_names(d);
            let log_url = format!("https://127.0.0.1:{log_port}");
            let domain_tls = tls(&pki.domains[*d])?;
            let signing = maestro_cli::dev::pki::signing_key(dir, d)?;
            let cfg = config(
                Component::LogServer,
                d,
                &base.join("log-server/config.json"),
                json!({
                    "listen": format!("127.0.0.1:{log_port}"),
                    "data_dir": base.join("log-server/data"),
                    "domain": d,
                    "tls": domain_tls,
                }),
            )?;
            let log_server = component(
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
                    "tls": domain_tls,
                    "signing": {"keys": [signing.private]},
                }),
            )?;
            let orchestrator = component(
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
                        "noticed_sync_interval_ms": 300,
                        "log_server": log_url,
                        "heartbeat_interval_ms": 1000,
                        "tls": tls(&pki.sites[s])?,
                        "signing": {"keys": [signing.public]},
                    }),
                )?;
                site_agents.push(component(
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
                signing,
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
            api: MaestroApi::tls(maestro_url, &pki.operator)?,
            pki,
            maestro,
            domains: nodes,
        })
    }

    /// Runs `maestroctl` (the `maestro-node` binary `bin`) as the federation's operator, with
    /// `args`, `-o json` and `env` added to its environment; fails with its stderr unless it
    /// succeeds, and returns what it printed, parsed.
    pub fn maestroctl_json(
        &self,
        bin: &Path,
        args: &[&std::ffi::OsStr],
        env: &[(OsString, OsString)],
    ) -> anyhow::Result<Value> {
        let tls = &self.pki.operator;
        let mut cmd = std::process::Command::new(bin);
        cmd.envs(env.iter().map(|(k, v)| (k, v))).args(args).args([
            "-o",
            "json",
            "--maestro",
            self.api.url(),
        ]);
        for (flag, file) in [
            ("--tls-ca", &tls.ca),
            ("--tls-cert", &tls.cert),
            ("--tls-key", &tls.key),
        ] {
            if let Some(f) = file {
                cmd.arg(flag).arg(f);
            }
        }
        let out = cmd.output().context("running maestroctl")?;
        anyhow::ensure!(
            out.status.success(),
            "maestroctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// The domain named `id`.
    pub fn domain(&mut self, id: &str) -> &mut DomainNodes {
        self.domains
            .iter_mut()
            .find(|d| d.id == id)
            .expect("domain exists in this federation")
    }

    /// What a failed test prints: `error`, every process's log tail ([`Self::logs`]), then
    /// `error` again, so that a runner that keeps only the head or the tail of a long output
    /// still shows why the test failed.
    pub fn failure_report(&self, error: &anyhow::Error) -> String {
        format!("FAILED: {error:#}\n{}--- FAILED: {error:#}\n", self.logs())
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
