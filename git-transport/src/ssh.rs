//! The `ssh` smart subtransport: the system OpenSSH client as a child process (arguments only,
//! no local shell), with the deploy key, strict host key checking against the pinned
//! `known_hosts` and no other configuration, and the remote command
//! `git-upload-pack '<path>'` / `git-receive-pack '<path>'` (the path was checked against a
//! strict charset, so quoting it is enough for the remote shell). Every read and write waits at
//! most `timeout_secs`, the whole session at most `deadline_secs`.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::access::Resolved;
use crate::remote_url::{RemoteKind, SshTarget, classify};

/// Most bytes of the client's stderr kept for an error message.
const MAX_STDERR: usize = 4096;
/// How long a client whose session is over may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The `ssh` subtransport of one fetch or push.
pub(crate) struct SshSubtransport {
    access: Arc<Resolved>,
}

impl SshSubtransport {
    pub fn new(access: Arc<Resolved>) -> Self {
        Self { access }
    }
}

/// A path for an `ssh -o Key="value"` option; refused when it cannot be quoted plainly.
fn option_path(key: &str, path: &std::path::Path) -> Result<String, git2::Error> {
    let text = path.to_str().unwrap_or("\"");
    if text
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(git2::Error::from_str(&format!(
            "git.{key}: the path may not hold quotes, backslashes or control characters"
        )));
    }
    Ok(format!("\"{text}\""))
}

/// The `ssh` command line for `program` on `target`.
fn command(access: &Resolved, target: &SshTarget, program: &str) -> Result<Command, git2::Error> {
    let settings = &access.settings;
    let (Some(key), Some(known_hosts)) = (&settings.ssh_key, &settings.known_hosts) else {
        return Err(git2::Error::from_str(
            "an ssh remote needs git.ssh_key and git.known_hosts",
        ));
    };
    let timeout = settings.timeout_secs;
    let mut cmd = Command::new("ssh");
    // -F /dev/null: no user or system client config can loosen the options below.
    cmd.args(["-F", "/dev/null", "-T", "-x", "-a"]);
    cmd.arg("-i").arg(key);
    for option in [
        "IdentitiesOnly=yes".to_string(),
        "BatchMode=yes".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        format!(
            "UserKnownHostsFile={}",
            option_path("known_hosts", known_hosts)?
        ),
        "GlobalKnownHostsFile=/dev/null".to_string(),
        "UpdateHostKeys=no".to_string(),
        "PasswordAuthentication=no".to_string(),
        "KbdInteractiveAuthentication=no".to_string(),
        "LogLevel=ERROR".to_string(),
        format!("ConnectTimeout={timeout}"),
        format!("ServerAliveInterval={timeout}"),
        "ServerAliveCountMax=2".to_string(),
    ] {
        cmd.arg("-o").arg(option);
    }
    if let Some(port) = target.port {
        cmd.arg("-p").arg(port.to_string());
    }
    if let Some(user) = &target.user {
        cmd.arg("-l").arg(user);
    }
    cmd.arg("--")
        .arg(&target.host)
        .arg(format!("{program} '{}'", target.path));
    cmd.env_remove("SSH_AUTH_SOCK")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(cmd)
}

impl SmartSubtransport for SshSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let target = match classify(url) {
            Ok(RemoteKind::Ssh(t)) => t,
            Ok(_) => return Err(git2::Error::from_str("not an ssh remote")),
            Err(reason) => return Err(git2::Error::from_str(&format!("git remote: {reason}"))),
        };
        let program = match action {
            Service::UploadPackLs | Service::UploadPack => "git-upload-pack",
            Service::ReceivePackLs | Service::ReceivePack => "git-receive-pack",
        };
        let mut child = command(&self.access, &target, program)?
            .spawn()
            .map_err(|e| git2::Error::from_str(&format!("{url}: starting ssh: {e}")))?;
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(git2::Error::from_str("ssh started without its pipes"));
                }
            };
        let (tx, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut stderr = stderr;
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = MAX_STDERR.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            let _ = tx.send(kept);
        });
        let settings = &self.access.settings;
        Ok(Box::new(SshStream {
            remote: url.to_string(),
            child,
            stdin: Some(stdin),
            stdout,
            stderr: stderr_rx,
            timeout: Duration::from_secs(settings.timeout_secs),
            deadline: Instant::now() + Duration::from_secs(settings.deadline_secs),
            max_bytes: settings.max_transfer_bytes,
            transferred: 0,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// The pipes of one `ssh` child.
struct SshStream {
    remote: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
    deadline: Instant,
    max_bytes: u64,
    transferred: u64,
}

impl SshStream {
    /// How the client ended: its exit status (it is killed when it is still running after its
    /// output closed and `timeout` passed) and the start of its stderr.
    fn outcome(&mut self) -> (Option<std::process::ExitStatus>, String) {
        // stderr closes when the client exits: that is the signal waited for.
        let stderr = self.stderr.recv_timeout(self.timeout).unwrap_or_default();
        let status = match self.child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                let _ = self.child.kill();
                self.child.wait().ok()
            }
        };
        // One line for logs: OpenSSH's banner lines of '@' carry nothing.
        let text = String::from_utf8_lossy(&stderr)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '@'))
            .collect::<Vec<_>>()
            .join(" ");
        (status, text)
    }

    /// An error for the session ending because of `what`, with the client's exit and stderr.
    fn ended(&mut self, what: &str) -> io::Error {
        let (status, stderr) = self.outcome();
        let status = status.map_or_else(|| "status unknown".to_string(), |s| s.to_string());
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        io::Error::other(format!("{}: {what} (ssh {status}){detail}", self.remote))
    }

    /// Waits until the pipe is ready, at most `timeout` and never past the deadline.
    fn wait_ready(&mut self, readable: bool) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                let _ = self.child.kill();
                return Err(self.ended("session deadline passed (git.deadline_secs)"));
            }
            let wait = self.timeout.min(self.deadline - now);
            let millis = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            let ready = if readable {
                let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, millis)
            } else {
                let Some(stdin) = &self.stdin else {
                    return Err(io::Error::other("ssh input already closed"));
                };
                let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLOUT)];
                poll(&mut fds, millis)
            };
            match ready {
                Ok(0) if Instant::now() >= self.deadline => continue,
                Ok(0) => {
                    let _ = self.child.kill();
                    let secs = self.timeout.as_secs();
                    return Err(self.ended(&format!("no progress for {secs} s (git.timeout_secs)")));
                }
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::other(format!("{}: poll: {e}", self.remote))),
            }
        }
    }
}

impl Read for SshStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait_ready(true)?;
        let n = self.stdout.read(buf)?;
        if n == 0 {
            // The client closed its output: a failed login or command explains itself here.
            let (status, stderr) = self.outcome();
            if status.is_some_and(|s| s.success()) {
                return Ok(0);
            }
            let status = status.map_or_else(|| "status unknown".to_string(), |s| s.to_string());
            return Err(io::Error::other(format!(
                "{}: the connection failed (ssh {status}): {stderr}",
                self.remote
            )));
        }
        self.transferred += n as u64;
        if self.transferred > self.max_bytes {
            let _ = self.child.kill();
            return Err(self.ended("more data than git.max_transfer_bytes"));
        }
        Ok(n)
    }
}

impl Write for SshStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.wait_ready(false)?;
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin.write(data),
            None => return Err(io::Error::other("ssh input already closed")),
        };
        match result {
            Ok(n) => {
                self.transferred += n as u64;
                if self.transferred > self.max_bytes {
                    let _ = self.child.kill();
                    return Err(self.ended("more data than git.max_transfer_bytes"));
                }
                Ok(n)
            }
            Err(e) => Err(self.ended(&format!("sending failed: {e}"))),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(stdin) => stdin.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SshStream {
    fn drop(&mut self) {
        // Closing the input ends the remote command; the client gets a moment to exit on its
        // own (its stderr closes then), and is stopped when it is still running after that.
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stderr.recv_timeout(self.timeout.min(EXIT_GRACE));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GitSettings;
    use crate::secret::PasswordSource;

    fn access() -> Resolved {
        Resolved {
            settings: GitSettings {
                ssh_key: Some("/keys/deploy".into()),
                known_hosts: Some("/keys/known hosts".into()),
                timeout_secs: 7,
                ..GitSettings::default()
            },
            password: PasswordSource::None,
            agent: None,
        }
    }

    #[test]
    fn the_command_pins_host_keys_and_quotes_the_path() {
        let Ok(RemoteKind::Ssh(target)) = classify("ssh://git@h.example:2222/srv/git/n.git") else {
            panic!("an ssh remote");
        };
        let cmd = command(&access(), &target, "git-upload-pack").unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        for expected in [
            "-F /dev/null",
            "-i /keys/deploy",
            "-o StrictHostKeyChecking=yes",
            "-o UserKnownHostsFile=\"/keys/known hosts\"",
            "-o BatchMode=yes",
            "-o IdentitiesOnly=yes",
            "-o ConnectTimeout=7",
            "-p 2222 -l git -- h.example",
        ] {
            assert!(
                joined.contains(expected),
                "{expected} missing from {joined}"
            );
        }
        assert_eq!(args.last().unwrap(), "git-upload-pack '/srv/git/n.git'");
    }

    #[test]
    fn a_known_hosts_path_that_cannot_be_quoted_is_refused() {
        let mut a = access();
        a.settings.known_hosts = Some("/keys/a\"b".into());
        let Ok(RemoteKind::Ssh(target)) = classify("git@h:n.git") else {
            panic!("an ssh remote");
        };
        assert!(command(&a, &target, "git-upload-pack").is_err());
    }
}
