//! A real ColonyOS server (colonies v1.9.12 with a PostgreSQL of its own) for interoperability
//! tests, from the project's `scripts/colonies.sh`: [`RealColonies::start`] builds it when not
//! cached, starts it on loopback ports in a temp dir and returns its URL and server owner key;
//! dropping the guard stops the server and its database by pid. A missing tarball, Go, Python or
//! PostgreSQL fails the test loudly; it is never skipped.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use anyhow::{Context, bail};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/colonies.sh");

/// Serialises builds: the first start of a test binary may compile the server.
static BUILD: Mutex<Option<PathBuf>> = Mutex::new(None);

/// A running real ColonyOS server; stopped (server and database, by pid) when dropped.
pub struct RealColonies {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The server owner's id (`COLONIES_SERVER_ID`).
    pub server_id: String,
    /// The server owner's private key, 64 hex.
    pub server_prvkey: String,
    dir: tempfile::TempDir,
}

fn run(args: &[&str]) -> anyhow::Result<Output> {
    let out = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .output()
        .with_context(|| format!("cannot run bash {SCRIPT}"))?;
    if !out.status.success() {
        bail!(
            "scripts/colonies.sh {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Builds the server once per test binary (a cached binary is reused); returns its path.
pub fn build() -> anyhow::Result<PathBuf> {
    let mut built = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.as_ref() {
        return Ok(path.clone());
    }
    let out = run(&["build"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if !path.is_file() {
        bail!("scripts/colonies.sh build printed no binary path: {stdout}");
    }
    *built = Some(path.clone());
    Ok(path)
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

impl RealColonies {
    /// Starts a fresh server and database (empty, only the server owner) in a temp dir.
    pub fn start() -> anyhow::Result<Self> {
        build()?;
        let dir = tempfile::Builder::new()
            .prefix("colonies-")
            .tempdir()
            .context("cannot create a temp dir for the colonies server")?;
        // PostgreSQL runs as the postgres user, which must reach its data dir inside.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let dir_arg = dir.path().to_string_lossy().into_owned();
        let out = match run(&["start", &dir_arg]) {
            Ok(out) => out,
            Err(e) => {
                let _ = run(&["stop", &dir_arg]);
                return Err(e);
            }
        };
        let env = parse_env(&String::from_utf8_lossy(&out.stdout));
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .with_context(|| format!("scripts/colonies.sh start printed no {k}"))
        };
        Ok(Self {
            url: get("COLONIES_URL")?,
            server_id: get("COLONIES_SERVER_ID")?,
            server_prvkey: get("COLONIES_SERVER_PRVKEY")?,
            dir,
        })
    }

    /// The instance directory (server log `colonies.log`, database under `pg/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of the server's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("colonies.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for RealColonies {
    fn drop(&mut self) {
        let dir_arg = self.dir.path().to_string_lossy().into_owned();
        if let Err(e) = run(&["stop", &dir_arg]) {
            eprintln!("stopping the colonies server failed: {e:#}");
        }
    }
}
