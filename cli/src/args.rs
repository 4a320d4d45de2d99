//! Command-line arguments (clap derive).

use crate::output::Output;
use std::path::PathBuf;
use std::time::Duration;

/// maestroctl: operate Maestro (orders, domains, intents, catalog, logs), run its components, or run a
/// whole federation locally with `dev`.
#[derive(Debug, clap::Parser)]
#[command(name = "maestroctl", version, about, propagate_version = true)]
pub struct Cli {
    /// Maestro's gRPC endpoint (settings key `maestro`; env `MAESTRO_ADDR` or `MAESTRO_MAESTRO`).
    #[arg(long, global = true, value_name = "URL")]
    pub maestro: Option<String>,
    /// Output format (settings key `output`; env `MAESTRO_OUTPUT`).
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<Output>,
    /// Timeout of each call, e.g. 10s, 500ms, 2m (default 10s; settings key `timeout`; env
    /// `MAESTRO_TIMEOUT`).
    #[arg(long, global = true, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// CA bundle that signs maestro's certificate, for an `https://` endpoint (settings key
    /// `tls.ca`; env `MAESTRO_TLS__CA`).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The operator's certificate (settings key `tls.cert`; env `MAESTRO_TLS__CERT`).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The operator's private key (settings key `tls.key`; env `MAESTRO_TLS__KEY`).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CLI settings file with `maestro:`, `output:`, `timeout:` and `tls:` keys (default
    /// ~/.config/maestro/config.yaml when it exists). Give it before the command.
    #[arg(long, env = "MAESTROCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create, inspect, watch and cancel service orders.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Registered domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Intents held by one domain orchestrator.
    #[command(subcommand)]
    Intent(IntentCommand),
    /// The service catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Log and status records of an order's services.
    Logs(LogsArgs),
    /// Run one component until SIGINT/SIGTERM (as its own binary does: `maestro`,
    /// `maestro-domain`, `maestro-log-server`, `maestro-site`).
    Run(RunArgs),
    /// Run a whole federation in this process on loopback.
    Dev(DevArgs),
    /// Certificates for deployments without a PKI: create a CA, issue, inspect.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Signing keys of a domain's desired state: generate, show, rotate.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Maestro's tamper-evident audit log: list, export, verify (admins only).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The rollouts of an order's items: status, pause, resume, abort.
    #[command(subcommand)]
    Rollout(RolloutCommand),
}

/// `rollout ...`
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCommand {
    /// Show where the rollouts of an order stand, site by site.
    Status(RolloutTarget),
    /// Start no more sites and pass no wave (failures still abort).
    Pause(RolloutTarget),
    /// Carry on after a pause.
    Resume(RolloutTarget),
    /// Stop, and return every site that changed to the previous generation.
    Abort(RolloutTarget),
}

/// The rollouts a `rollout` command addresses.
#[derive(Debug, Clone, clap::Args)]
pub struct RolloutTarget {
    /// Order id.
    pub id: String,
    /// Only this item (default: every item with a rollout).
    #[arg(long)]
    pub item: Option<String>,
}

/// `audit ...`
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// List recorded calls, oldest first.
    List {
        /// Only calls of this caller: its identity URI or its last part(s) (`operator/ada`, `ada`).
        #[arg(long, value_name = "WHO")]
        who: Option<String>,
        /// Only this call (e.g. CreateOrder) or calls on this id (an order, intent or domain).
        #[arg(long, value_name = "WHAT")]
        what: Option<String>,
        /// Only calls at or after this time: RFC 3339, or a duration ago (e.g. 2h).
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        since: Option<i64>,
        /// Only calls at or before this time: RFC 3339, or a duration ago.
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        until: Option<i64>,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        limit: u32,
    },
    /// Print the whole log (entries, checkpoints, public key) as JSON, for `verify --file`.
    Export,
    /// Check the log: the hash chain and every checkpoint's signature. Exits 1 naming the first
    /// changed, removed or reordered entry.
    Verify {
        /// Check an export file (`audit export > FILE`) instead of asking maestro.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The audit public key to trust (`audit-signing.pub` from maestro's data directory).
        #[arg(long, value_name = "FILE", conflicts_with = "expect_key")]
        public_key: Option<PathBuf>,
        /// The audit public key to trust: 64 hex digits or base64 of its 32 bytes.
        #[arg(long, value_name = "KEY")]
        expect_key: Option<String>,
        /// A head noted earlier (`SEQ:HASH`, as verify prints it): the log must still hold it.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
    },
}

/// `keys ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an ed25519 signing key: NAME.pk8 (PKCS#8, mode 0600) and NAME.pub (hex) in DIR.
    Generate {
        /// Directory of the two files (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Base name of the files.
        #[arg(long, default_value = "signing", value_name = "NAME")]
        name: String,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of a key file (.pk8 or .pub), as sites pin it.
    Public {
        /// The key file.
        file: PathBuf,
    },
    /// Print the `signing` section a domain needs to announce a new key set: it signs with
    /// every `--key` (the current keys and the new ones) and announces the `--announce` keys.
    Rotate {
        /// A private key the domain signs with (repeat: current and new keys).
        #[arg(long = "key", value_name = "FILE.pk8", required = true)]
        keys: Vec<PathBuf>,
        /// A public key of the new set (repeat; .pub or .pk8 file).
        #[arg(long = "announce", value_name = "FILE", required = true)]
        announce: Vec<PathBuf>,
        /// How many keys of the new set must sign.
        #[arg(long, default_value_t = 1)]
        threshold: u32,
    },
}

/// `order ...`
#[derive(Debug, clap::Subcommand)]
pub enum OrderCommand {
    /// Create an order from a TMF641-shaped YAML or JSON file.
    Create {
        /// The order file (`-` = stdin).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Wait until the order is final, printing progress.
        #[arg(long)]
        wait: bool,
    },
    /// Show what an order would change, per domain, site and blueprint, field by field,
    /// without placing it.
    Plan {
        /// The order file (`-` = stdin).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Show one order.
    Get {
        /// Order id.
        id: String,
    },
    /// List orders, newest first.
    List {
        /// Only orders in this state (e.g. inProgress, COMPLETED).
        #[arg(long, value_parser = parse_state)]
        state: Option<maestro_proto::order::v1::OrderState>,
        /// At most this many orders.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
    },
    /// Follow an order until it is final; exit 0 when completed, 1 otherwise.
    Watch {
        /// Order id.
        id: String,
    },
    /// Place an order that returns every service an order changed to what it was before (a
    /// service the order added is deleted).
    Rollback {
        /// The order to take back.
        id: String,
        /// Idempotency key of the rollback order (default: derived from the order id, so a
        /// retry never rolls back twice).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Wait until the rollback order is final, printing progress.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel an order that is not final yet.
    Cancel {
        /// Order id.
        id: String,
        /// Why.
        #[arg(long, default_value = "cancelled by maestroctl")]
        reason: String,
    },
}

/// `domain ...`
#[derive(Debug, clap::Subcommand)]
pub enum DomainCommand {
    /// List registered domains.
    List,
}

/// `intent ...`
#[derive(Debug, clap::Subcommand)]
pub enum IntentCommand {
    /// List the intents of a domain (its endpoint comes from maestro's registry).
    List {
        /// Domain id.
        #[arg(long)]
        domain: String,
    },
}

/// `catalog ...`
#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// List service specifications.
    List,
    /// Show one service specification.
    Get {
        /// Spec id.
        id: String,
    },
}

/// `logs --order ID [--follow]`
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Order id.
    #[arg(long)]
    pub order: String,
    /// Keep streaming new records.
    #[arg(short, long)]
    pub follow: bool,
}

/// Which component `run` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Component {
    /// The central maestro.
    Maestro,
    /// A domain orchestrator.
    Domain,
    /// A domain's log server.
    LogServer,
    /// A site agent (with its process reconciler).
    Site,
}

/// `run COMPONENT --config FILE`
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The component.
    #[arg(value_enum)]
    pub component: Component,
    /// Component config file (TOML, YAML or JSON); env `MAESTRO_<KEY>` overrides keys, `__`
    /// between nesting levels (`MAESTRO_LABELS__TIER=edge`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `dev`
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Data directory (default: a new temporary directory, kept and printed).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Number of domains.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub domains: u32,
    /// Sites per domain.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub sites_per_domain: u32,
    /// Submit the demo order, follow it to completion, then shut down.
    #[arg(long)]
    pub demo: bool,
    /// Seconds the demo may take before it fails.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub demo_timeout: u64,
    /// Plaintext gRPC without certificates (default: mutual TLS with a CA in the data dir).
    #[arg(long)]
    pub insecure: bool,
}

/// `pki ...`
#[derive(Debug, clap::Subcommand)]
pub enum PkiCommand {
    /// Create a CA (ca.pem, ca-key.pem, pki.json) in a directory.
    Init {
        /// The PKI directory (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Trust domain of every identity the CA issues, e.g. maestro.example.
        #[arg(long, value_name = "NAME")]
        trust_domain: String,
        /// Days the CA is valid.
        #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        valid_days: u32,
        /// Replace an existing CA (certificates it issued stop being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate for maestro, a domain, a site or an operator, signed by the CA.
    Issue(PkiIssueArgs),
    /// Show a certificate's identity, validity and names.
    Inspect {
        /// Certificate file (PEM or DER).
        file: PathBuf,
    },
}

/// `pki issue [OPTIONS] <maestro | domain D | site D S | operator NAME>`; options may come before
/// or after the identity.
#[derive(Debug, clap::Args)]
pub struct PkiIssueArgs {
    /// The PKI directory made by `pki init` (required).
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// DNS name for a server (repeatable; default localhost for maestro and domains).
    #[arg(long = "dns", global = true, value_name = "NAME")]
    pub dns: Vec<String>,
    /// IP address for a server (repeatable; default 127.0.0.1 for maestro and domains).
    #[arg(long = "ip", global = true, value_name = "ADDR")]
    pub ip: Vec<std::net::IpAddr>,
    /// Days the certificate is valid (at most until the CA expires).
    #[arg(long, global = true, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub valid_days: u32,
    /// Path prefix of the files: PREFIX.pem and PREFIX-key.pem (default DIR/<identity name>).
    #[arg(long, global = true, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
    /// Replace existing files.
    #[arg(long, global = true)]
    pub force: bool,
    /// Who the certificate is for.
    #[command(subcommand)]
    pub identity: PkiIdentity,
}

/// The identity of `pki issue`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum PkiIdentity {
    /// The central maestro (server and client).
    Maestro,
    /// A domain's orchestrator and log server (server and client).
    Domain {
        /// Domain id.
        domain: String,
    },
    /// A site agent (client).
    Site {
        /// Its domain.
        domain: String,
        /// The site.
        site: String,
    },
    /// A person using maestroctl (client only).
    Operator {
        /// The operator's name.
        name: String,
    },
}

impl Cli {
    /// Checks what clap cannot express: `pki issue` needs `--dir` (its options are global so they
    /// may follow the identity, and clap refuses required global options).
    pub fn check(self) -> Result<Self, clap::Error> {
        if let Command::Pki(PkiCommand::Issue(args)) = &self.command
            && args.dir.is_none()
        {
            use clap::CommandFactory;
            return Err(Cli::command().error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "pki issue: the following required argument was not provided: --dir <DIR>",
            ));
        }
        Ok(self)
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h` or plain (fractional) seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let err = || format!("invalid duration {text:?} (use e.g. 500ms, 10s, 2m)");
    let (num, unit_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (t, 1000.0)
    };
    let value: f64 = num.trim().parse().map_err(|_| err())?;
    let ms = value * unit_ms;
    if !ms.is_finite() || ms <= 0.0 || ms > 1e12 {
        return Err(err());
    }
    Ok(Duration::from_millis(ms.round().max(1.0) as u64))
}

/// Parses `--since`/`--until`: RFC 3339, or a duration before now (`90s`, `2h`); milliseconds
/// since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.timestamp_millis());
    }
    let ago = parse_duration(text).map_err(|_| {
        format!(
            "invalid time {text:?} (RFC 3339 like 2026-05-01T10:00:00Z, or a duration ago like 2h)"
        )
    })?;
    Ok(maestro_common::time::now_millis() - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
}

fn parse_state(text: &str) -> Result<maestro_proto::order::v1::OrderState, String> {
    crate::states::parse_order_state(text).ok_or_else(|| {
        format!(
            "unknown state {text:?} (one of acknowledged, rejected, pending, held, inProgress, cancelled, completed, failed, partial)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn audit_commands_parse_their_filters() {
        let cli = Cli::try_parse_from([
            "maestroctl",
            "audit",
            "list",
            "--who",
            "ada",
            "--what",
            "CreateOrder",
            "--since",
            "2026-01-01T00:00:00Z",
            "-o",
            "json",
        ])
        .unwrap();
        match cli.command {
            Command::Audit(AuditCommand::List {
                who,
                what,
                since,
                until,
                limit,
            }) => {
                assert_eq!(who.as_deref(), Some("ada"));
                assert_eq!(what.as_deref(), Some("CreateOrder"));
                assert_eq!(since, Some(1_767_225_600_000));
                assert_eq!(until, None);
                assert_eq!(limit, 1000);
            }
            other => panic!("{other:?}"),
        }
        let hour_ago = parse_time("1h").unwrap();
        let expected = maestro_common::time::now_millis() - 3_600_000;
        assert!((hour_ago - expected).abs() < 5_000, "{hour_ago} {expected}");
        assert!(parse_time("yesterday").is_err());
        assert!(
            Cli::try_parse_from([
                "maestroctl",
                "audit",
                "verify",
                "--public-key",
                "k.pub",
                "--expect-key",
                "ab",
            ])
            .is_err()
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn parses_commands_and_global_flags_anywhere() {
        let cli = Cli::try_parse_from([
            "maestroctl",
            "order",
            "list",
            "--state",
            "IN_PROGRESS",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.output, Some(Output::Json));
        match cli.command {
            Command::Order(OrderCommand::List { state, limit }) => {
                assert_eq!(
                    state,
                    Some(maestro_proto::order::v1::OrderState::InProgress)
                );
                assert_eq!(limit, 100);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "maestroctl",
            "--config",
            "c.yaml",
            "run",
            "maestro",
            "--config",
            "m.toml",
        ])
        .unwrap();
        assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("c.yaml")));
        match cli.command {
            Command::Run(r) => {
                assert_eq!(r.component, Component::Maestro);
                assert_eq!(r.config.as_deref(), Some(std::path::Path::new("m.toml")));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["maestroctl", "order", "list", "--state", "done"]).is_err());
        assert!(Cli::try_parse_from(["maestroctl", "dev", "--domains", "0"]).is_err());
    }

    #[test]
    fn pki_issue_takes_options_before_and_after_the_identity() {
        let cli = Cli::try_parse_from([
            "maestroctl",
            "pki",
            "issue",
            "--dir",
            "p",
            "site",
            "north",
            "mine-7",
            "--dns",
            "a",
            "--dns",
            "b",
            "--ip",
            "10.0.0.1",
            "--force",
        ])
        .unwrap()
        .check()
        .unwrap();
        match cli.command {
            Command::Pki(PkiCommand::Issue(a)) => {
                assert_eq!(a.dir.as_deref(), Some(std::path::Path::new("p")));
                assert_eq!(
                    a.identity,
                    PkiIdentity::Site {
                        domain: "north".into(),
                        site: "mine-7".into()
                    }
                );
                assert_eq!(a.dns, ["a", "b"]);
                assert_eq!(a.ip.len(), 1);
                assert!(a.force);
                assert_eq!(a.valid_days, 365);
            }
            other => panic!("{other:?}"),
        }
        let missing_dir = Cli::try_parse_from(["maestroctl", "pki", "issue", "maestro"])
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(
            missing_dir.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(
            Cli::try_parse_from(["maestroctl", "pki", "issue", "--dir", "p", "site", "x"]).is_err()
        );
        assert!(
            Cli::try_parse_from([
                "maestroctl",
                "pki",
                "issue",
                "--dir",
                "p",
                "--ip",
                "x",
                "maestro"
            ])
            .is_err()
        );
    }
}
