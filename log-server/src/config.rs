//! Configuration of the log server (see `docs/contracts.md`).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the log server listens, where it keeps its data and which domain it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory of the sled database.
    pub data_dir: PathBuf,
    /// The domain this log server belongs to; records naming another domain are rejected.
    pub domain: String,
    /// Largest accepted record, in encoded protobuf bytes.
    pub max_record_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            data_dir: PathBuf::from("./data/log-server"),
            domain: "default".to_string(),
            max_record_bytes: 65536,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7400");
        assert_eq!(c.data_dir, PathBuf::from("./data/log-server"));
        assert_eq!(c.domain, "default");
        assert_eq!(c.max_record_bytes, 65536);
    }
}
