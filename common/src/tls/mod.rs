//! Mutual TLS for every gRPC hop: a component's TLS settings (PEM files of its CA bundle, its
//! certificate and its key, or an explicit `insecure`), the material checked and reloaded from
//! them ([`TlsSource`]), the server side that reads each caller's [`PeerIdentity`] from its
//! verified certificate ([`server`]), and the client side ([`client`]).
//!
//! Invariants: there is no way to get a TLS server that accepts a client without a certificate
//! signed by the CA; plaintext happens only with `insecure: true`, which callers log as a
//! warning at start; the identity comes from the certificate the handshake verified, never from
//! the request; material that is expired or not signed by the CA is never put in use.

pub mod client;
mod material;
pub mod server;
mod settings;
mod source;

pub use server::PeerInfo;
pub use settings::{DEFAULT_RELOAD_SECS, TlsError, TlsSettings};
pub use source::TlsSource;

use crate::identity::PeerIdentity;

/// The identity of the caller of `request`, from the client certificate the TLS handshake
/// verified: `UNAUTHENTICATED` when there is none (a plaintext connection) or it names no single
/// Maestro identity.
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Result<PeerIdentity, tonic::Status> {
    let info = request
        .extensions()
        .get::<PeerInfo>()
        .ok_or_else(|| tonic::Status::unauthenticated("no client certificate"))?;
    info.identity
        .clone()
        .map_err(|e| tonic::Status::unauthenticated(format!("client certificate: {e}")))
}

#[cfg(test)]
mod tests;

/// Starts the TLS of a component: loads and checks its material, checks that its certificate
/// names `role` (a component never runs under another's identity), and reloads it until
/// `shutdown`. With `insecure`, warns that nothing is authenticated and returns `None`.
pub fn start(
    settings: &TlsSettings,
    component: &str,
    role: &crate::identity::Role,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<Option<TlsSource>, TlsError> {
    let Some(source) = TlsSource::load(settings)? else {
        tracing::warn!(
            component,
            "tls.insecure is set: plaintext gRPC, callers are not authenticated and every call \
             is allowed; use it for development only"
        );
        return Ok(None);
    };
    let identity = source.identity();
    if &identity.role != role {
        return Err(TlsError::Rejected {
            path: settings.cert_path(),
            reason: format!("names {identity}, but this {component} is {role}"),
        });
    }
    source.spawn_reloader(shutdown.clone());
    tracing::info!(component, %identity, "mutual TLS");
    Ok(Some(source))
}

/// Checks that `endpoint` is one a client can connect to: the scheme TLS settings imply
/// (`https://` with TLS, `http://` with `insecure`), then a URI with a host. `field` names the
/// endpoint's key in errors. A component refuses such a config when it loads it, rather than
/// failing later on the connection (a site agent would otherwise run without ever reporting).
pub fn check_endpoint(
    settings: &TlsSettings,
    field: &str,
    endpoint: &str,
) -> Result<(), crate::FieldError> {
    let (want, other) = if settings.insecure {
        ("http://", "https://")
    } else {
        ("https://", "http://")
    };
    if !endpoint.starts_with(want) {
        let why = if endpoint.starts_with(other) {
            format!(
                "{endpoint:?} must start with {want} because tls.insecure is {}",
                settings.insecure
            )
        } else {
            format!("{endpoint:?} must start with {want}")
        };
        return Err(crate::FieldError::new(field, why));
    }
    match endpoint.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err(crate::FieldError::new(
            field,
            format!("{endpoint:?} names no host"),
        )),
        Err(e) => Err(crate::FieldError::new(
            field,
            format!("{endpoint:?} is not a valid URI: {e}"),
        )),
    }
}
