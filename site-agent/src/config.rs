//! The site agent's configuration (see `docs/contracts.md`).

use crate::gitsync::trust::SigningSettings;
use maestro_common::tls::TlsSettings;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use maestro_common::launch::{Service, StartError, Started};
use maestro_git_transport::GitSettings;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default `status_refresh_interval_ms`: 5 minutes. A change is sent when it is seen and the
/// outbox keeps it until the log server has it, so the refresh only repairs a domain whose view
/// went back in time (a rare, operator-made event); 5 minutes bounds that repair while an idle
/// site with a few blueprints spends a few bytes per minute on it.
pub const DEFAULT_STATUS_REFRESH_INTERVAL_MS: u64 = 300_000;

/// Default `colony_keep_successful_ms`: an hour of the colony's successful processes.
pub const DEFAULT_COLONY_KEEP_SUCCESSFUL_MS: u64 = 3_600_000;

/// Default `colony_keep_failed_ms`: a day of the colony's failed and cancelled processes.
pub const DEFAULT_COLONY_KEEP_FAILED_MS: u64 = 86_400_000;

/// `heartbeat_interval_ms` when the config file sets none.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 10_000;

/// Configuration of one site agent. Keys are the config file keys; `MAESTRO_<KEY>` overrides them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Domain the site belongs to (copied into every record).
    pub domain: String,
    /// Site name: the colony name, the blueprint location and the `sites/<site>/` folder in Git.
    pub site: String,
    /// Where the agent keeps its sled database, keys, Git mirror and the embedded colony.
    pub data_dir: PathBuf,
    /// Where Prometheus scrapes this component's metrics (`GET /metrics`, plain HTTP); off when
    /// unset.
    pub metrics_listen: Option<SocketAddr>,
    /// URL or filesystem path of the domain's Git repository (`https://`, `ssh://`,
    /// `user@host:path` or a path; never with a password in it).
    pub git_remote: String,
    /// How to reach `git_remote`: CA, credentials, SSH key and pinned host keys, timeouts.
    pub git: GitSettings,
    /// Branch to follow.
    pub branch: String,
    /// Milliseconds between Git fetches while no commit notice stream from the log server is
    /// open (see `commit_notices`).
    pub sync_interval_ms: u64,
    /// Follow the commits the domain announces through its log server (`WatchCommits`, a stream
    /// the site opens) and fetch as soon as one is announced.
    pub commit_notices: bool,
    /// Milliseconds between Git fetches while the commit notice stream is open: a safety net for
    /// a lost notice.
    pub noticed_sync_interval_ms: u64,
    /// Endpoint URL of the domain's log server, e.g. `http://127.0.0.1:7400`.
    pub log_server: String,
    /// URL of an external ColonyOS server; `None` starts an embedded colony on `colony_listen`.
    pub colony_url: Option<String>,
    /// Listen address of the embedded colony (port 0 allowed).
    pub colony_listen: SocketAddr,
    /// Milliseconds between heartbeat records. Their answers keep the connection to the log
    /// server busy: the site pings it only when an answer is 5 s later than this, so a link that
    /// died silently is found within this plus 15 s.
    pub heartbeat_interval_ms: u64,
    /// Milliseconds between sending every blueprint's status again (with a heartbeat); a status
    /// is always sent when it changes. At most `heartbeat_interval_ms` sends them with every
    /// heartbeat.
    pub status_refresh_interval_ms: u64,
    /// Milliseconds between full re-checks of the colony against the last fetched commit (without
    /// fetching); a local pause or its end is read at the latest then.
    pub colony_reconcile_interval_ms: u64,
    /// Milliseconds the embedded colony keeps a process that ended successfully (with its logs);
    /// 0 keeps every one. The colony's self-healing loop submits a reconcile process per kind of
    /// blueprint every `colony_reconcile_interval_ms`, so without a bound an idle site's colony
    /// grows by megabytes a day.
    pub colony_keep_successful_ms: u64,
    /// Milliseconds the embedded colony keeps a process that failed or was cancelled; 0 keeps
    /// every one. Longer than successful ones by default: they are what a person at the site
    /// looks at (`colonies process psf`).
    pub colony_keep_failed_ms: u64,
    /// Most records the outbox keeps while the log server is unreachable; when full the oldest
    /// `log` records are dropped first (never `status` records).
    pub outbox_max_records: usize,
    /// Settings of each reconciler, by its name (`process`, `docker`, `config_file`; see
    /// `docs/contracts.md`): e.g. `reconcilers.docker.mode = "off"`. A reconciler whose section
    /// is absent runs with its defaults.
    pub reconcilers: BTreeMap<String, Value>,
    /// Mutual TLS with the log server: the site's certificate (identity
    /// `…/domain/<domain>/site/<site>`), key and CA.
    pub tls: TlsSettings,
    /// The domain's public signing keys this site verifies every commit against, and the
    /// threshold (see `docs/security.md`, "Signed desired state").
    pub signing: SigningSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            domain: "default".to_string(),
            site: "site".to_string(),
            data_dir: PathBuf::from("./data/site"),
            metrics_listen: None,
            git_remote: String::new(),
            git: GitSettings::default(),
            branch: "main".to_string(),
            sync_interval_ms: 30_000,
            commit_notices: true,
            noticed_sync_interval_ms: 300_000,
            log_server: "http://127.0.0.1:7400".to_string(),
            colony_url: None,
            colony_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
            status_refresh_interval_ms: DEFAULT_STATUS_REFRESH_INTERVAL_MS,
            colony_reconcile_interval_ms: 60_000,
            colony_keep_successful_ms: DEFAULT_COLONY_KEEP_SUCCESSFUL_MS,
            colony_keep_failed_ms: DEFAULT_COLONY_KEEP_FAILED_MS,
            outbox_max_records: crate::outbox::DEFAULT_MAX_RECORDS,
            reconcilers: BTreeMap::new(),
            tls: TlsSettings::default(),
            signing: SigningSettings::default(),
        }
    }
}

impl Config {
    /// The embedded colony's retention of closed processes (0 keeps them for good).
    pub fn colony_retention(&self) -> colony::Retention {
        let keep = |ms: u64| (ms > 0).then(|| std::time::Duration::from_millis(ms));
        colony::Retention {
            successful: keep(self.colony_keep_successful_ms),
            unsuccessful: keep(self.colony_keep_failed_ms),
        }
    }
}

impl maestro_common::config::Validate for Config {
    /// Rejects values the agent cannot work with, naming the key (checked before anything starts).
    fn validate(&self) -> Result<(), maestro_common::FieldError> {
        use maestro_common::FieldError;
        maestro_common::names::validate_name("site", &self.site)?;
        maestro_common::names::validate_name("domain", &self.domain)?;
        if self.git_remote.trim().is_empty() {
            return Err(FieldError::new("git_remote", "required"));
        }
        self.git
            .validate_for("git", "git_remote", &self.git_remote)?;
        let url = |field: &str, v: &str| {
            if v.starts_with("http://") || v.starts_with("https://") {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    format!("{v:?} must start with http:// or https://"),
                ))
            }
        };
        self.tls.validate("tls")?;
        self.signing.validate("signing")?;
        maestro_common::tls::check_endpoint(&self.tls, "log_server", &self.log_server)?;
        if let Some(c) = &self.colony_url {
            url("colony_url", c)?;
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(FieldError::new("data_dir", "must not be empty"));
        }
        for (field, v) in [
            ("sync_interval_ms", self.sync_interval_ms),
            ("noticed_sync_interval_ms", self.noticed_sync_interval_ms),
            ("heartbeat_interval_ms", self.heartbeat_interval_ms),
            (
                "status_refresh_interval_ms",
                self.status_refresh_interval_ms,
            ),
            (
                "colony_reconcile_interval_ms",
                self.colony_reconcile_interval_ms,
            ),
        ] {
            if v == 0 {
                return Err(FieldError::new(field, "must be greater than 0"));
            }
        }
        crate::reconcilers::validate_settings(&self.reconcilers)
    }
}

impl Service for Config {
    const NAME: &'static str = "site agent";
    const SERVICE: &'static str = "site-agent";

    fn data_dir(&self) -> Option<&std::path::Path> {
        Some(&self.data_dir)
    }

    fn metrics_listen(&self) -> Option<SocketAddr> {
        self.metrics_listen
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
    fn reconciler_sections_are_kept_as_given() {
        let c: Config = serde_json::from_str("{}").unwrap();
        assert!(c.reconcilers.is_empty());
        let c: Config = serde_json::from_str(
            r#"{"reconcilers": {"docker": {"mode": "on", "socket": "/run/d.sock"}}}"#,
        )
        .unwrap();
        assert_eq!(c.reconcilers["docker"]["mode"], "on");
        assert!(serde_json::from_str::<Config>(r#"{"docker": "on"}"#).is_err());
    }

    #[test]
    fn the_colony_keeps_an_hour_of_successes_and_a_day_of_failures_unless_told_otherwise() {
        use std::time::Duration;
        let c = Config::default();
        assert_eq!(
            c.colony_retention(),
            colony::Retention {
                successful: Some(Duration::from_secs(3600)),
                unsuccessful: Some(Duration::from_secs(86_400)),
            }
        );
        let c: Config = serde_json::from_str(
            r#"{"colony_keep_successful_ms": 0, "colony_keep_failed_ms": 5000}"#,
        )
        .unwrap();
        assert_eq!(
            c.colony_retention(),
            colony::Retention {
                successful: None,
                unsuccessful: Some(Duration::from_secs(5)),
            }
        );
    }

    #[test]
    fn the_deploy_example_is_valid() {
        use maestro_common::config::Validate;
        let c: Config =
            serde_json::from_str(include_str!("../../deploy/config/site.json")).unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert!(c.git.password_file.is_some());
    }

    #[test]
    fn git_settings_are_validated_with_the_remote() {
        use maestro_common::config::Validate;
        let https: Config = serde_json::from_str(
            r#"{"git_remote": "https://git.example/north.git",
                "git": {"ca": "/etc/maestro/git-ca.pem", "username": "site", "password_env": "GIT_TOKEN"},
                "tls": {"insecure": true}}"#,
        )
        .unwrap();
        assert_eq!(https.validate(), Ok(()));
        let inline = Config {
            git_remote: "https://site:s3cret@git.example/north.git".into(),
            tls: TlsSettings::insecure(),
            ..Config::default()
        };
        let err = inline.validate().unwrap_err();
        assert_eq!(err.field, "git_remote");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let ssh = Config {
            git_remote: "git@git.example:north.git".into(),
            tls: TlsSettings::insecure(),
            ..Config::default()
        };
        assert_eq!(ssh.validate().unwrap_err().field, "git.ssh_key");
        assert!(serde_json::from_str::<Config>(r#"{"git": {"password": "x"}}"#).is_err());
    }

    #[test]
    fn a_log_server_endpoint_that_does_not_parse_is_refused_at_load() {
        use maestro_common::config::Validate;
        let c = Config {
            git_remote: "https://git.example/north.git".into(),
            log_server: "http://logs north:7400".into(),
            tls: TlsSettings::insecure(),
            ..Config::default()
        };
        let err = c.validate().unwrap_err();
        assert_eq!(err.field, "log_server");
        assert!(err.reason.contains("not a valid URI"), "{err}");
    }
}
