//! Maestro's configuration (`maestro::Config`), as listed in `docs/contracts.md`.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Configuration of the maestro service; every field is a config key (`MAESTRO_<KEY>` overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Directory of the sled database.
    pub data_dir: PathBuf,
    /// Directory of service specifications (`*.yaml|*.yml|*.json`).
    pub catalog_dir: PathBuf,
    /// A domain is unreachable when its last heartbeat is older than this.
    pub domain_unreachable_after_ms: u64,
    /// First delay between intent delivery (and status watch) retries.
    pub fanout_backoff_min_ms: u64,
    /// Largest delay between intent delivery (and status watch) retries.
    pub fanout_backoff_max_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7200)),
            data_dir: PathBuf::from("./data/maestro"),
            catalog_dir: PathBuf::from("./catalog"),
            domain_unreachable_after_ms: 30_000,
            fanout_backoff_min_ms: 200,
            fanout_backoff_max_ms: 10_000,
        }
    }
}

impl Config {
    /// A fresh retry backoff with the configured bounds.
    pub fn backoff(&self) -> maestro_common::backoff::Backoff {
        let min = self.fanout_backoff_min_ms.max(1);
        maestro_common::backoff::Backoff::new(
            Duration::from_millis(min),
            Duration::from_millis(self.fanout_backoff_max_ms.max(min)),
        )
    }
}
