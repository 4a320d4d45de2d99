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
            Mode::Checked { .. } => peer_identity(request).map(Some),
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
