//! Real Git servers on loopback ports for the transport tests: [`HttpsGitServer`] (nginx +
//! fcgiwrap + git's `git-http-backend`, basic auth, a certificate from a CA of its own),
//! [`SshGitServer`] (`sshd` with its own host key and one deploy key) and [`Blackhole`] (accepts
//! connections and never answers). Each runs in a temp dir of its own and is killed by pid when
//! dropped. The programs come from `scripts/git-servers.sh` ([`ensure_programs`]); a missing
//! one fails the test, it is never skipped.

mod blackhole;
mod https;
mod process;
mod ssh;
mod tls;

pub use blackhole::Blackhole;
pub use https::HttpsGitServer;
pub use process::ensure_programs;
pub use ssh::{SshGitServer, generate_key};
pub use tls::TestCa;
