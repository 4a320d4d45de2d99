//! [`SshGitServer`]: Debian's OpenSSH server on a loopback port with a host key of its own,
//! accepting one generated ed25519 deploy key, serving bare repositories from its temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::process::{ServerProcess, bare_repo, program, wait_listening};

/// A running SSH Git server; sshd is killed when it drops.
pub struct SshGitServer {
    /// The port sshd listens on (127.0.0.1).
    pub port: u16,
    /// The private deploy key the server accepts.
    pub deploy_key: PathBuf,
    /// A known_hosts file pinning this server's host key for `[127.0.0.1]:port`.
    pub known_hosts: PathBuf,
    user: String,
    dir: tempfile::TempDir,
    _sshd: ServerProcess,
}

/// Generates an ed25519 key pair at `path` (and `path.pub`) with `ssh-keygen`.
pub fn generate_key(path: &Path, comment: &str) -> anyhow::Result<()> {
    let out = Command::new(program("ssh-keygen")?)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .context("running ssh-keygen")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn public_key(path: &Path) -> anyhow::Result<String> {
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    Ok(std::fs::read_to_string(&pub_path)
        .with_context(|| format!("reading {}", pub_path.display()))?
        .trim()
        .to_string())
}

fn sshd_config(dir: &Path, port: u16, user: &str) -> String {
    let d = dir.display();
    format!(
        "ListenAddress 127.0.0.1:{port}\n\
         HostKey {d}/host_key\n\
         PidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\n\
         AllowUsers {user}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         LogLevel VERBOSE\n"
    )
}

impl SshGitServer {
    /// Generates the host and deploy keys, starts `sshd -D -e -f CONFIG -p PORT` and waits until
    /// it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let sshd = program("sshd")?;
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("repos"))?;
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())?
            .map(|u| u.name)
            .context("the current user has no name")?;
        let (host_key, deploy_key) = (d.join("host_key"), d.join("deploy_key"));
        generate_key(&host_key, "maestro-test-host")?;
        generate_key(&deploy_key, "maestro-test-deploy")?;
        std::fs::write(
            d.join("authorized_keys"),
            format!("{}\n", public_key(&deploy_key)?),
        )?;
        let port = crate::net::free_port();
        let known_hosts = d.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public_key(&host_key)?),
        )?;
        std::fs::write(d.join("sshd_config"), sshd_config(d, port, &user))?;
        // sshd needs its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let mut cmd = Command::new(sshd);
        cmd.args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .arg("-p")
            .arg(port.to_string());
        let mut process = ServerProcess::spawn("sshd", cmd, &d.join("sshd.log"))?;
        wait_listening(&mut process, port).await?;
        Ok(Self {
            port,
            deploy_key,
            known_hosts,
            user,
            dir,
            _sshd: process,
        })
    }

    /// The server's folder (keys, config, log, repositories).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates the bare repository `<name>.git` (HEAD `main`); returns its path.
    pub fn create_repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        bare_repo(&self.dir.path().join("repos"), name)
    }

    /// The `ssh://` URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        self.url_of(&self.dir.path().join("repos").join(format!("{name}.git")))
    }

    /// The `ssh://` URL of the repository at the absolute `path` on this machine (e.g. one an
    /// [`super::HttpsGitServer`] serves too).
    pub fn url_of(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// Writes a known_hosts file that pins another key for this server's address (as if the
    /// server had been replaced) and returns its path.
    pub fn wrong_known_hosts(&self) -> anyhow::Result<PathBuf> {
        let other = self.dir.path().join("other_host_key");
        if !other.exists() {
            generate_key(&other, "maestro-test-other-host")?;
        }
        let path = self.dir.path().join("wrong_known_hosts");
        std::fs::write(
            &path,
            format!("[127.0.0.1]:{} {}\n", self.port, public_key(&other)?),
        )?;
        Ok(path)
    }
}
