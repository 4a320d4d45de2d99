//! Configuration of a domain orchestrator (see `docs/contracts.md`, "Configs").

use crate::signing::SigningSettings;
use maestro_common::config::Validate;
use maestro_common::launch::{Service, StartError, Started};
use maestro_common::text::check_labels;
use maestro_common::tls::{TlsSettings, check_endpoint};
use maestro_common::{FieldError, ResourceName};
use maestro_git_transport::GitSettings;
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
    /// Where Prometheus scrapes this component's metrics (`GET /metrics`, plain HTTP); off when
    /// unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Where a plaintext gRPC health endpoint answers probes that cannot present a client
    /// certificate (Kubernetes' `grpc:` probe): `grpc.health.v1.Health` only; off when unset.
    pub health_listen: Option<SocketAddr>,
    /// URL or path of the domain's bare Git repository (`https://`, `ssh://`, `user@host:path`
    /// or a path; never with a password in it).
    pub git_remote: String,
    /// How to reach `git_remote`: CA, credentials, SSH key and pinned host keys, timeouts.
    pub git: GitSettings,
    /// Create the bare repository at `git_remote` when it is a missing path (dev setups).
    pub git_init_remote: bool,
    /// Branch the blueprints are committed to.
    pub branch: String,
    /// Sites of this domain.
    pub sites: Vec<String>,
    /// Labels reported to maestro.
    pub labels: BTreeMap<String, String>,
    /// Labels of each site, reported to maestro (its rollouts order sites and pick canaries by
    /// them): site -> {key: value}; every key a site of `sites`.
    pub site_labels: BTreeMap<String, BTreeMap<String, String>>,
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
    /// Mutual TLS of the orchestrator's server and of its calls to maestro and the log server:
    /// its certificate (identity `…/domain/<domain>`), key and CA.
    pub tls: TlsSettings,
    /// What the domain accepts from maestro (see [`crate::policy`]); empty: anything its sites
    /// can run.
    pub policy: crate::policy::Policy,
    /// Directory of the service specifications this domain offers (the format of maestro's
    /// `catalog_dir`), published to maestro and re-read while running; unset: the domain
    /// publishes no catalog and offers maestro's.
    pub catalog_dir: Option<PathBuf>,
    /// The ed25519 keys that sign every published commit's manifest, the key set it announces
    /// and its validity (see `docs/security.md`, "Signed desired state").
    pub signing: SigningSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            domain: "default".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7300)),
            advertise: None,
            data_dir: PathBuf::from("./data/domain"),
            metrics_listen: None,
            health_listen: None,
            git_remote: String::new(),
            git: GitSettings::default(),
            git_init_remote: false,
            branch: "main".into(),
            sites: Vec::new(),
            labels: BTreeMap::new(),
            site_labels: BTreeMap::new(),
            region: String::new(),
            log_server: String::new(),
            maestro: None,
            heartbeat_interval_ms: 5000,
            site_unreachable_after_ms: 30_000,
            tls: TlsSettings::default(),
            policy: crate::policy::Policy::default(),
            catalog_dir: None,
            signing: SigningSettings::default(),
        }
    }
}

impl Validate for Config {
    /// Rejects values the orchestrator cannot work with, naming the key.
    fn validate(&self) -> Result<(), FieldError> {
        ResourceName::parse("domain", &self.domain)?;
        for (i, s) in self.sites.iter().enumerate() {
            ResourceName::parse(&format!("sites[{i}]"), s)?;
        }
        check_labels("labels", &self.labels)?;
        for (site, labels) in &self.site_labels {
            let at = format!("site_labels[{site:?}]");
            if !self.sites.contains(site) {
                return Err(FieldError::new(at, "not a site of `sites`"));
            }
            check_labels(&at, labels)?;
        }
        if self.git_remote.trim().is_empty() {
            return Err(FieldError::new("git_remote", "must not be empty"));
        }
        self.git
            .validate_for("git", "git_remote", &self.git_remote)?;
        if !git2::Reference::is_valid_name(&format!("refs/heads/{}", self.branch)) {
            return Err(FieldError::new(
                "branch",
                format!("invalid branch name {:?}", self.branch),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(FieldError::new("data_dir", "must not be empty"));
        }
        if self.heartbeat_interval_ms == 0 {
            return Err(FieldError::new(
                "heartbeat_interval_ms",
                "must be greater than 0",
            ));
        }
        self.tls.validate("tls")?;
        self.signing.validate("signing")?;
        self.policy.validate("policy")?;
        if let Some(a) = &self.advertise {
            check_endpoint(&self.tls, "advertise", a)?;
        }
        if let Some(m) = &self.maestro {
            check_endpoint(&self.tls, "maestro", m)?;
        }
        if !self.log_server.is_empty() {
            check_endpoint(&self.tls, "log_server", &self.log_server)?;
        }
        Ok(())
    }
}

impl Service for Config {
    const NAME: &'static str = "domain orchestrator";
    const SERVICE: &'static str = "domain-orchestrator";

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

    fn valid() -> Config {
        Config {
            git_remote: "/srv/git/north.git".into(),
            sites: vec!["north-1".into()],
            log_server: "http://127.0.0.1:7400".into(),
            tls: TlsSettings::insecure(),
            ..Config::default()
        }
    }

    #[test]
    fn a_complete_config_is_valid() {
        assert_eq!(valid().validate(), Ok(()));
        // Without a Git remote the defaults alone are not enough.
        assert_eq!(
            Config::default().validate().unwrap_err().field,
            "git_remote"
        );
        // TLS is required unless insecure is set explicitly, and endpoints follow it.
        let secure = Config {
            tls: TlsSettings::default(),
            ..valid()
        };
        assert_eq!(secure.validate().unwrap_err().field, "tls.ca");
        let secure = Config {
            tls: TlsSettings::files("ca.pem", "d.pem", "d.key"),
            ..valid()
        };
        let e = secure.validate().unwrap_err();
        assert_eq!(e.field, "log_server");
        assert!(e.reason.contains("https://"), "{e}");
        let secure = Config {
            log_server: "https://127.0.0.1:7400".into(),
            ..secure
        };
        assert_eq!(secure.validate(), Ok(()));
    }

    #[test]
    fn site_labels_of_its_sites_are_valid() {
        let c = Config {
            site_labels: [("north-1".into(), [("ring".into(), "canary".into())].into())].into(),
            ..valid()
        };
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn the_deploy_example_is_valid() {
        let c: Config =
            serde_json::from_str(include_str!("../../deploy/config/domain.json")).unwrap();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn validation_names_the_key() {
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    domain: "a/b".into(),
                    ..valid()
                },
                "domain",
            ),
            (
                Config {
                    sites: vec!["ok".into(), "Not Ok".into()],
                    ..valid()
                },
                "sites[1]",
            ),
            (
                Config {
                    git_remote: " ".into(),
                    ..valid()
                },
                "git_remote",
            ),
            (
                Config {
                    labels: [("tier".into(), "edge\nx".into())].into(),
                    ..valid()
                },
                r#"labels["tier"]"#,
            ),
            (
                Config {
                    site_labels: [("south-1".into(), BTreeMap::new())].into(),
                    ..valid()
                },
                r#"site_labels["south-1"]"#,
            ),
            (
                Config {
                    site_labels: [("north-1".into(), [(String::new(), "x".into())].into())].into(),
                    ..valid()
                },
                r#"site_labels["north-1"][""]"#,
            ),
            (
                Config {
                    git_remote: "https://deploy:s3cret@git.example/north.git".into(),
                    ..valid()
                },
                "git_remote",
            ),
            (
                Config {
                    git_remote: "ssh://git@git.example/north.git".into(),
                    ..valid()
                },
                "git.ssh_key",
            ),
            (
                Config {
                    branch: "a..b".into(),
                    ..valid()
                },
                "branch",
            ),
            (
                Config {
                    signing: SigningSettings {
                        renew_before_secs: 7 * 24 * 3600,
                        ..SigningSettings::default()
                    },
                    ..valid()
                },
                "signing.renew_before_secs",
            ),
            (
                Config {
                    heartbeat_interval_ms: 0,
                    ..valid()
                },
                "heartbeat_interval_ms",
            ),
            (
                Config {
                    maestro: Some("maestro:7200".into()),
                    ..valid()
                },
                "maestro",
            ),
            (
                Config {
                    advertise: Some("ftp://x".into()),
                    ..valid()
                },
                "advertise",
            ),
            (
                Config {
                    log_server: "127.0.0.1:7400".into(),
                    ..valid()
                },
                "log_server",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().field, key);
        }
    }
}
