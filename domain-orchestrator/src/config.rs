//! Configuration of a domain orchestrator (see `docs/contracts.md`, "Configs").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings of one domain orchestrator. Field names are the config keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Name of the domain this orchestrator owns.
    pub domain: String,
    /// Address the gRPC server binds (port 0 allowed).
    pub listen: SocketAddr,
    /// Endpoint maestro dials; default `http://{addr}`.
    pub advertise: Option<String>,
    /// Directory for sled and the local Git mirror.
    pub data_dir: PathBuf,
    /// URL or path of the domain's bare Git repository.
    pub git_remote: String,
    /// Create the bare repository at `git_remote` when it is a missing path (dev setups).
    pub git_init_remote: bool,
    /// Branch the blueprints are committed to.
    pub branch: String,
    /// Sites of this domain.
    pub sites: Vec<String>,
    /// Labels reported to maestro.
    pub labels: BTreeMap<String, String>,
    /// Region reported to maestro.
    pub region: String,
    /// Endpoint URL of the domain's log server (empty = do not follow status).
    pub log_server: String,
    /// Endpoint URL of maestro to register with (None = standalone).
    pub maestro: Option<String>,
    /// Interval between heartbeats to maestro.
    pub heartbeat_interval_ms: u64,
    /// A target site whose last record (status, log or heartbeat) is older than this is
    /// reported `unreachable`; re-evaluated every quarter of it (100 ms..5 s). 0 disables it.
    pub site_unreachable_after_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            domain: "default".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7300)),
            advertise: None,
            data_dir: PathBuf::from("./data/domain"),
            git_remote: String::new(),
            git_init_remote: false,
            branch: "main".into(),
            sites: Vec::new(),
            labels: BTreeMap::new(),
            region: String::new(),
            log_server: String::new(),
            maestro: None,
            heartbeat_interval_ms: 5000,
            site_unreachable_after_ms: 30_000,
        }
    }
}
