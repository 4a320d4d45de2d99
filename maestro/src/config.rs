//! Maestro's configuration (`maestro::Config`), as listed in `docs/contracts.md`.

use maestro_common::FieldError;
use maestro_common::config::Validate;
use maestro_common::launch::{Service, StartError, Started};
use maestro_common::tls::TlsSettings;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Configuration of the maestro service; every field is a config key, loaded through
/// `maestro_common::config` (file, then `MAESTRO_<KEY>`, then flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Directory of the sled database.
    pub data_dir: PathBuf,
    /// Where Prometheus scrapes this component's metrics (`GET /metrics`, plain HTTP); off when
    /// unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Where a plaintext gRPC health endpoint answers probes that cannot present a client
    /// certificate (Kubernetes' `grpc:` probe): `grpc.health.v1.Health` only; off when unset.
    pub health_listen: Option<SocketAddr>,
    /// Directory of service specifications (`*.yaml|*.yml|*.json`).
    pub catalog_dir: PathBuf,
    /// A domain is unreachable when its last heartbeat is older than this.
    pub domain_unreachable_after_ms: u64,
    /// A service placed with a count of domains moves off a domain unreachable for this long
    /// (the domain removes it when it is back).
    pub failover_after_ms: u64,
    /// First delay between intent delivery (and status watch) retries.
    pub fanout_backoff_min_ms: u64,
    /// Largest delay between intent delivery (and status watch) retries.
    pub fanout_backoff_max_ms: u64,
    /// Mutual TLS of maestro's server and of its calls to domains: its certificate (identity
    /// `…/maestro`), key and CA.
    pub tls: TlsSettings,
    /// The operator policy file (YAML or JSON: `operators: {<name>: {role, regions, domains}}`).
    /// Without it, no operator may call (deny by default); unused with `tls.insecure`.
    pub operator_policy: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7200)),
            data_dir: PathBuf::from("./data/maestro"),
            metrics_listen: None,
            health_listen: None,
            catalog_dir: PathBuf::from("./catalog"),
            domain_unreachable_after_ms: 30_000,
            failover_after_ms: 300_000,
            fanout_backoff_min_ms: 200,
            fanout_backoff_max_ms: 10_000,
            tls: TlsSettings::default(),
            operator_policy: None,
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

impl Validate for Config {
    /// Rejects values maestro cannot work with, naming the key.
    fn validate(&self) -> Result<(), FieldError> {
        for (field, dir) in [
            ("data_dir", &self.data_dir),
            ("catalog_dir", &self.catalog_dir),
        ] {
            if dir.as_os_str().is_empty() {
                return Err(FieldError::new(field, "must not be empty"));
            }
        }
        if self.domain_unreachable_after_ms == 0 {
            return Err(FieldError::new(
                "domain_unreachable_after_ms",
                "must be greater than 0",
            ));
        }
        if self.failover_after_ms < self.domain_unreachable_after_ms {
            return Err(FieldError::new(
                "failover_after_ms",
                "must be at least domain_unreachable_after_ms",
            ));
        }
        if self.fanout_backoff_min_ms == 0 {
            return Err(FieldError::new(
                "fanout_backoff_min_ms",
                "must be greater than 0",
            ));
        }
        if self.fanout_backoff_max_ms < self.fanout_backoff_min_ms {
            return Err(FieldError::new(
                "fanout_backoff_max_ms",
                format!(
                    "must be at least fanout_backoff_min_ms ({})",
                    self.fanout_backoff_min_ms
                ),
            ));
        }
        self.tls.validate("tls")
    }
}

impl Service for Config {
    const NAME: &'static str = "maestro";
    const SERVICE: &'static str = "maestro";

    fn data_dir(&self) -> Option<&std::path::Path> {
        Some(&self.data_dir)
    }

    fn metrics_listen(&self) -> Option<SocketAddr> {
        self.metrics_listen
    }

    fn health_listen(&self) -> Option<SocketAddr> {
        self.health_listen
    }

    async fn start(
        self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Started, StartError> {
        let run = crate::run(self, shutdown).await.map(|r| (r.addr, r.task));
        Started::from_run(run, |e| matches!(e, crate::Error::Config(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_but_for_tls() {
        assert_eq!(Config::default().validate().unwrap_err().field, "tls.ca");
        let insecure = Config {
            tls: TlsSettings::insecure(),
            ..Config::default()
        };
        assert_eq!(insecure.validate(), Ok(()));
    }

    #[test]
    fn validation_names_the_key() {
        let cases: [(Config, &str); 5] = [
            (
                Config {
                    data_dir: PathBuf::new(),
                    ..Config::default()
                },
                "data_dir",
            ),
            (
                Config {
                    catalog_dir: PathBuf::new(),
                    ..Config::default()
                },
                "catalog_dir",
            ),
            (
                Config {
                    domain_unreachable_after_ms: 0,
                    ..Config::default()
                },
                "domain_unreachable_after_ms",
            ),
            (
                Config {
                    fanout_backoff_min_ms: 0,
                    ..Config::default()
                },
                "fanout_backoff_min_ms",
            ),
            (
                Config {
                    fanout_backoff_min_ms: 500,
                    fanout_backoff_max_ms: 100,
                    ..Config::default()
                },
                "fanout_backoff_max_ms",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().field, key);
        }
    }
}
