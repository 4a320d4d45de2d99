//! Hosts for multi-host tests: network namespaces the test creates — a router ("the internet", and
//! the sites' NAT: masquerade out, only replies in), the central tier, one domain, and sites — the
//! certificates of the components with the addresses they are dialled at, and components started
//! inside a namespace.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use maestro_cli::pki::{self, IssueRequest};
use maestro_common::tls::TlsSettings;
use maestro_testkit::binary::Node;
use maestro_testkit::netns::{self, Netns};
use serde_json::Value;

/// The trust domain of the certificates.
pub const TRUST_DOMAIN: &str = "mines.example";
/// maestro's address (central namespace).
pub const MAESTRO_IP: &str = "10.200.1.2";
/// The domain's address (its orchestrator, log server and Git server).
pub const DOMAIN_IP: &str = "10.200.2.2";

/// The hosts: a router ("the internet" plus the sites' NAT), the central tier, the domain, the sites.
pub struct Hosts {
    /// The router.
    pub wan: Netns,
    /// The central tier.
    pub central: Netns,
    /// The domain `north`.
    pub north: Netns,
    /// The sites, in order, each behind the router's NAT.
    pub sites: Vec<Netns>,
}

/// The address of the `i`-th site (0-based) on its own LAN.
pub fn site_ip(i: usize) -> String {
    format!("192.168.{}.2", 11 + i)
}

/// Builds the hosts and links, with `count` sites; everything is deleted when they drop.
pub fn build_hosts(count: usize) -> anyhow::Result<Hosts> {
    netns::ensure_available()?;
    let p = format!("mh{}", std::process::id());
    let wan = Netns::add(&format!("{p}-wan"))?;
    let central = Netns::add(&format!("{p}-c"))?;
    let north = Netns::add(&format!("{p}-d"))?;
    netns::link(&central, "c0", "10.200.1.2/24", &wan, "wc", "10.200.1.1/24")?;
    netns::link(&north, "d0", "10.200.2.2/24", &wan, "wd", "10.200.2.1/24")?;
    central.ip(["route", "add", "default", "via", "10.200.1.1"])?;
    north.ip(["route", "add", "default", "via", "10.200.2.1"])?;
    let mut sites = Vec::new();
    for i in 0..count {
        let ns = Netns::add(&format!("{p}-s{}", i + 1))?;
        let gw = format!("192.168.{}.1", 11 + i);
        netns::link(
            &ns,
            "s0",
            &format!("{}/24", site_ip(i)),
            &wan,
            &format!("ws{}", i + 1),
            &format!("{gw}/24"),
        )?;
        ns.ip(["route", "add", "default", "via", &gw])?;
        sites.push(ns);
    }
    wan.block_on(|| async { std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") })??;
    // The sites' NAT: out through masquerade; in, only replies to what a site opened.
    wan.iptables(&[
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "192.168.0.0/16",
        "!",
        "-d",
        "192.168.0.0/16",
        "-j",
        "MASQUERADE",
    ])?;
    wan.iptables(&[
        "-A",
        "FORWARD",
        "-d",
        "192.168.0.0/16",
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
    ])?;
    wan.iptables(&["-A", "FORWARD", "-d", "192.168.0.0/16", "-j", "DROP"])?;
    Ok(Hosts {
        wan,
        central,
        north,
        sites,
    })
}

/// Certificates of every component, with the addresses the servers are dialled at.
pub struct Pki {
    /// maestro's (with [`MAESTRO_IP`]).
    pub maestro: TlsSettings,
    /// Domain north's (with [`DOMAIN_IP`]).
    pub north: TlsSettings,
    /// Each site's.
    pub sites: Vec<TlsSettings>,
    /// The operator `ops` (admin).
    pub operator: TlsSettings,
    /// The operator policy file.
    pub policy: PathBuf,
}

/// Makes a CA in `dir` and the certificates of maestro, domain north, its `sites` and operator `ops`.
pub fn make_pki(dir: &Path, sites: &[&str]) -> anyhow::Result<Pki> {
    pki::init(dir, TRUST_DOMAIN, 30, false)?;
    let ca = dir.join("ca.pem");
    let issue = |kind: &str, names: &[&str], ip: Option<&str>| -> anyhow::Result<TlsSettings> {
        let req = IssueRequest {
            role: pki::issue::role(kind, names)?,
            dns: Vec::new(),
            ips: ip.map(|a| a.parse()).transpose()?.into_iter().collect(),
            valid_days: 2,
            out: None,
            force: false,
        };
        let out = pki::issue(dir, &req)?;
        Ok(TlsSettings::files(&ca, out.cert, out.key))
    };
    let sites = sites
        .iter()
        .map(|s| issue("site", &["north", s], None))
        .collect::<anyhow::Result<_>>()?;
    let policy = dir.join("operators.yaml");
    std::fs::write(&policy, "operators:\n  ops: {role: admin}\n")?;
    Ok(Pki {
        maestro: issue("maestro", &[], Some(MAESTRO_IP))?,
        north: issue("domain", &["north"], Some(DOMAIN_IP))?,
        sites,
        operator: issue("operator", &["ops"], None)?,
        policy,
    })
}

/// A component (`<bin> run <component>`, `bin` being `maestro-node`) inside `ns`, its config written to `dir`.
pub fn node(
    bin: &Path,
    ns: &Netns,
    name: &str,
    component: &str,
    dir: &Path,
    config: Value,
) -> anyhow::Result<Node> {
    std::fs::create_dir_all(dir)?;
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, serde_json::to_vec_pretty(&config)?)?;
    let args: Vec<std::ffi::OsString> = vec![
        "netns".into(),
        "exec".into(),
        ns.name().into(),
        bin.into(),
        "run".into(),
        component.into(),
        "--config".into(),
        cfg.into(),
    ];
    let mut n = Node::new(name, Path::new("ip"), args, &dir.join("log.txt"));
    n.start()?;
    Ok(n)
}

/// TLS settings as config JSON.
pub fn tls(s: &TlsSettings) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(s)?)
}

/// Listening TCP sockets of a namespace (`ss -ltnH`), as local addresses.
pub fn listening(ns: &Netns) -> anyhow::Result<Vec<SocketAddr>> {
    let out = ns.exec("ss", ["-ltnH"])?;
    out.lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .map(|a| {
            a.replace('*', "0.0.0.0")
                .parse::<SocketAddr>()
                .map_err(|e| anyhow::anyhow!("{a}: {e}"))
        })
        .collect()
}
