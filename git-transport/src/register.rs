//! Registration of the `https` and `ssh` transports with libgit2, once per process.

use std::sync::OnceLock;

use git2::transport::Transport;

use crate::TransportError;

fn https_transport(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let access = crate::access::current().map_err(|e| git2::Error::from_str(&e))?;
    // rpc: every HTTP request is a self-contained exchange.
    Transport::smart(remote, true, crate::https::HttpsSubtransport::new(access))
}

fn ssh_transport(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let access = crate::access::current().map_err(|e| git2::Error::from_str(&e))?;
    // Stateful: one ssh session carries the whole conversation.
    Transport::smart(remote, false, crate::ssh::SshSubtransport::new(access))
}

/// Registers the transports with libgit2 the first time it is called; later calls return the
/// first outcome. [`crate::RemoteAccess::run`] calls it, so callers rarely need to.
pub fn ensure_registered() -> Result<(), TransportError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(register_all)
        .clone()
        .map_err(TransportError::Register)
}

#[allow(unsafe_code)]
fn register_all() -> Result<(), String> {
    // SAFETY: `git2::transport::register` must not race with libgit2 looking transports up or
    // with another registration. The `OnceLock` makes this the only registration and blocks
    // every caller of `ensure_registered` until it is done, and every fetch and push of
    // Maestro goes through `RemoteAccess::run`, which calls `ensure_registered` first.
    unsafe {
        git2::transport::register("https", https_transport).map_err(|e| e.to_string())?;
        git2::transport::register("ssh", ssh_transport).map_err(|e| e.to_string())?;
    }
    Ok(())
}
