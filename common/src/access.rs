//! The check every gRPC handler makes first: who is calling (from the verified certificate) and
//! whether [`crate::authz`] allows that identity this call. Refusals are logged with the rule
//! that refused them and returned as `PERMISSION_DENIED` (or `UNAUTHENTICATED` without an
//! identity).
//!
//! Invariant: with mutual TLS, no handler runs for a caller the rules do not allow. With an
//! explicit `insecure` setting nothing is checked (plaintext has no identities); the component
//! warns about that at start.

use std::sync::Arc;

use crate::authz::{Call, OperatorPolicy, authorize};
use crate::identity::PeerIdentity;
use crate::tls::{TlsSource, peer_identity};

/// How a server decides who may call it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Access {
    mode: Mode,
}

#[derive(Debug, Clone)]
enum Mode {
    /// Plaintext: no identities, nothing checked.
    Open,
    /// Mutual TLS: identities of `trust_domain`, rules of [`crate::authz`].
    Checked {
        trust_domain: String,
        operators: Arc<OperatorPolicy>,
    },
}

impl Access {
    /// Nothing is checked: for `insecure` servers and for tests of handler logic.
    pub fn open() -> Self {
        Self { mode: Mode::Open }
    }

    /// Checks callers of the trust domain of this component's own certificate against the
    /// rules, with `operators` for operator calls.
    pub fn checked(own: &PeerIdentity, operators: OperatorPolicy) -> Self {
        Self {
            mode: Mode::Checked {
                trust_domain: own.trust_domain.clone(),
                operators: Arc::new(operators),
            },
        }
    }

    /// [`Self::checked`] with `tls`, [`Self::open`] without.
    pub fn from_tls(tls: Option<&TlsSource>, operators: OperatorPolicy) -> Self {
        match tls {
            Some(tls) => Self::checked(&tls.identity(), operators),
            None => Self::open(),
        }
    }

    /// Whether callers are checked at all.
    pub fn is_checked(&self) -> bool {
        matches!(self.mode, Mode::Checked { .. })
    }

    /// The caller of `request`, when identities are in use.
    pub fn caller<T>(
        &self,
        request: &tonic::Request<T>,
    ) -> Result<Option<PeerIdentity>, tonic::Status> {
        match &self.mode {
            Mode::Open => Ok(None),
            Mode::Checked { .. } => peer_identity(request)
                .inspect_err(|e| {
                    tracing::warn!(reason = %e.message(), "call refused: no identity");
                })
                .map(Some),
        }
    }

    /// Allows `call` for the caller of `request` or refuses it (logged with the rule). Returns
    /// the caller's identity (`None` when nothing is checked).
    pub fn check<T>(
        &self,
        request: &tonic::Request<T>,
        call: &Call<'_>,
    ) -> Result<Option<PeerIdentity>, tonic::Status> {
        if !self.is_checked() {
            return Ok(None);
        }
        let peer = peer_identity(request).inspect_err(|e| {
            tracing::warn!(call = ?call, reason = %e.message(), "call refused: no identity");
        })?;
        self.allow(&peer, call)?;
        Ok(Some(peer))
    }

    /// Allows `call` for `peer` (from [`Self::caller`]) or refuses it (logged with the rule).
    pub fn allow(&self, peer: &PeerIdentity, call: &Call<'_>) -> Result<(), tonic::Status> {
        let Mode::Checked {
            trust_domain,
            operators,
        } = &self.mode
        else {
            return Ok(());
        };
        match authorize(peer, trust_domain, call, operators) {
            Ok(()) => Ok(()),
            Err(denied) => {
                refused_counter().add(1, &[opentelemetry::KeyValue::new("rule", denied.rule)]);
                tracing::warn!(
                    peer = %peer,
                    rule = denied.rule,
                    call = ?call,
                    reason = %denied.reason,
                    "call refused"
                );
                Err(tonic::Status::permission_denied(denied.to_string()))
            }
        }
    }

    /// Whether `call` is allowed for `peer`, without logging (for filtering what a caller sees).
    pub fn allows(&self, peer: &PeerIdentity, call: &Call<'_>) -> bool {
        match &self.mode {
            Mode::Open => true,
            Mode::Checked {
                trust_domain,
                operators,
            } => authorize(peer, trust_domain, call, operators).is_ok(),
        }
    }

    /// The operator policy in use (empty when nothing is checked).
    pub fn operators(&self) -> Option<&OperatorPolicy> {
        match &self.mode {
            Mode::Open => None,
            Mode::Checked { operators, .. } => Some(operators),
        }
    }
}

/// `maestro.authz.refused`: calls refused, by the rule that refused them.
fn refused_counter() -> &'static opentelemetry::metrics::Counter<u64> {
    static C: std::sync::OnceLock<opentelemetry::metrics::Counter<u64>> =
        std::sync::OnceLock::new();
    C.get_or_init(|| {
        crate::telemetry::metrics::meter()
            .u64_counter("maestro.authz.refused")
            .with_unit("{call}")
            .with_description("Calls refused by an authorization rule, by rule")
            .build()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::identity::Role;

    /// Collects what is logged while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    fn peer(role: Role) -> PeerIdentity {
        PeerIdentity::new("td", role).unwrap()
    }

    #[test]
    fn a_refusal_is_logged_with_its_rule_and_returned_as_permission_denied() {
        let access = Access::checked(&peer(Role::Maestro), OperatorPolicy::default());
        let site = peer(Role::Site {
            domain: crate::ResourceName::parse("d", "north").unwrap(),
            site: crate::ResourceName::parse("s", "n1").unwrap(),
        });
        let call = Call::WriteIntents { domain: "north" };
        let mut status = None;
        let log = logged(|| status = Some(access.allow(&site, &call).unwrap_err()));
        let status = status.unwrap();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(
            status.message().contains("intents-from-maestro-only"),
            "{status:?}"
        );
        assert!(
            log.contains("call refused")
                && log.contains("rule=\"intents-from-maestro-only\"")
                && log.contains("spiffe://td/domain/north/site/n1"),
            "{log}"
        );
        // Allowed calls are not logged; open access allows everything.
        let maestro = peer(Role::Maestro);
        assert!(logged(|| access.allow(&maestro, &call).unwrap()).is_empty());
        assert!(Access::open().allow(&site, &call).is_ok());
        assert!(!Access::open().is_checked());
    }

    #[test]
    fn a_request_without_an_identity_is_unauthenticated_when_checked() {
        let access = Access::checked(&peer(Role::Maestro), OperatorPolicy::default());
        let call = Call::ReadIntents { domain: "north" };
        let e = access.check(&tonic::Request::new(()), &call).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            Access::open()
                .check(&tonic::Request::new(()), &call)
                .unwrap(),
            None
        );
    }
}
