//! Configuration of the log server (see `docs/contracts.md`).

use crate::push::MAX_RECORDS_PER_PUSH;
use maestro_common::config::Validate;
use maestro_common::launch::{Service, StartError, Started};
use maestro_common::tls::TlsSettings;
use maestro_common::{FieldError, ResourceName};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the log server listens, where it keeps its data, which domain it serves, how much it
/// keeps and how fast each site may push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory of the sled database.
    pub data_dir: PathBuf,
    /// Where Prometheus scrapes this component's metrics (`GET /metrics`, plain HTTP); off when
    /// unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Where a plaintext gRPC health endpoint answers probes that cannot present a client
    /// certificate (Kubernetes' `grpc:` probe): `grpc.health.v1.Health` only; off when unset.
    pub health_listen: Option<SocketAddr>,
    /// The domain this log server belongs to; records naming another domain are rejected.
    pub domain: String,
    /// Largest accepted record, in encoded protobuf bytes.
    pub max_record_bytes: usize,
    /// Keep at most this many records (`None` = unlimited). Latest statuses count but are kept.
    pub retention_max_records: Option<u64>,
    /// Keep at most this many bytes of encoded records (`None` = unlimited).
    pub retention_max_bytes: Option<u64>,
    /// Remove records received longer ago than this (`None` = unlimited).
    pub retention_max_age_ms: Option<u64>,
    /// How often retention runs (it also runs once at start).
    pub retention_interval_ms: u64,
    /// Records per second each site may push (token bucket refill rate).
    pub rate_limit_per_site: u32,
    /// Records a site may push at once after being quiet (token bucket size); at least
    /// [`MAX_RECORDS_PER_PUSH`], so that every valid push can eventually be accepted.
    pub rate_limit_burst: u32,
    /// Mutual TLS: this log server's certificate (identity `…/domain/<domain>`), key and CA.
    pub tls: TlsSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            data_dir: PathBuf::from("./data/log-server"),
            metrics_listen: None,
            health_listen: None,
            domain: "default".to_string(),
            max_record_bytes: 65536,
            retention_max_records: None,
            retention_max_bytes: None,
            retention_max_age_ms: None,
            retention_interval_ms: 10_000,
            rate_limit_per_site: 2000,
            rate_limit_burst: 10_000,
            tls: TlsSettings::default(),
        }
    }
}

impl Config {
    /// Rejects values the server cannot work with, naming the key.
    pub fn validate(&self) -> Result<(), FieldError> {
        ResourceName::parse("domain", &self.domain)?;
        if self.max_record_bytes == 0 {
            return Err(FieldError::new(
                "max_record_bytes",
                "must be greater than 0",
            ));
        }
        if self.retention_interval_ms == 0 {
            return Err(FieldError::new(
                "retention_interval_ms",
                "must be greater than 0",
            ));
        }
        if self.rate_limit_per_site == 0 {
            return Err(FieldError::new(
                "rate_limit_per_site",
                "must be greater than 0",
            ));
        }
        if (self.rate_limit_burst as usize) < MAX_RECORDS_PER_PUSH {
            return Err(FieldError::new(
                "rate_limit_burst",
                format!(
                    "must be at least {MAX_RECORDS_PER_PUSH} (the most records of one push), \
                     or a full push could never be accepted"
                ),
            ));
        }
        self.tls.validate("tls")
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), FieldError> {
        Config::validate(self)
    }
}

impl Service for Config {
    const NAME: &'static str = "log server";
    const SERVICE: &'static str = "log-server";

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
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7400");
        assert_eq!(c.data_dir, PathBuf::from("./data/log-server"));
        assert_eq!(c.domain, "default");
        assert_eq!(c.max_record_bytes, 65536);
        assert_eq!(c.retention_max_records, None);
        assert_eq!(c.retention_max_bytes, None);
        assert_eq!(c.retention_max_age_ms, None);
        assert_eq!(c.retention_interval_ms, 10_000);
        assert_eq!(c.rate_limit_per_site, 2000);
        assert_eq!(c.rate_limit_burst, 10_000);
        assert_eq!(c.tls, TlsSettings::default());
        assert_eq!(
            c.validate().unwrap_err().field,
            "tls.ca",
            "TLS is required by default"
        );
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
                    domain: "a/b".into(),
                    ..Config::default()
                },
                "domain",
            ),
            (
                Config {
                    max_record_bytes: 0,
                    ..Config::default()
                },
                "max_record_bytes",
            ),
            (
                Config {
                    retention_interval_ms: 0,
                    ..Config::default()
                },
                "retention_interval_ms",
            ),
            (
                Config {
                    rate_limit_per_site: 0,
                    ..Config::default()
                },
                "rate_limit_per_site",
            ),
            (
                Config {
                    rate_limit_burst: MAX_RECORDS_PER_PUSH as u32 - 1,
                    ..Config::default()
                },
                "rate_limit_burst",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().field, key);
        }
    }
}
