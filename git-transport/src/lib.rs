//! Git over real networks for libgit2 (`git2`), which Maestro builds without any network
//! transport of its own: HTTPS through rustls (`ureq`, the ring provider) and SSH through the
//! system `ssh` client run as a child process. Both the domain orchestrator (push) and the site
//! agent (fetch) use it through [`RemoteAccess`], built from the shared [`GitSettings`].
//!
//! Invariants:
//! - the transports are registered with libgit2 once per process ([`ensure_registered`]);
//!   which settings a fetch or push uses is scoped to the calling thread by
//!   [`RemoteAccess::run`], so two remotes with different settings never mix;
//! - credentials are read from a file or an environment variable at request time and never put
//!   into a URL, a log line, an error message or Git config; a remote URL carrying a password is
//!   refused;
//! - every request has a connect timeout, a timeout on each read and write, a deadline and a
//!   size cap, so an unresponsive server fails a fetch instead of hanging it;
//! - SSH checks the host key strictly against the pinned `known_hosts` (never trust on first
//!   use), and the remote path is checked against a strict charset before it is quoted into the
//!   remote command; nothing runs through a local shell.

mod access;
pub mod compact;
mod error;
mod https;
mod locks;
mod register;
mod remote_url;
mod secret;
mod settings;
mod ssh;

pub use access::RemoteAccess;
pub use compact::compact_if_needed;
pub use error::TransportError;
pub use locks::remove_stale_locks;
pub use register::ensure_registered;
pub use remote_url::{RemoteKind, SshTarget, classify, local_path};
pub use settings::GitSettings;
