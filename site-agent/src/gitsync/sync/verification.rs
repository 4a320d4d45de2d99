//! The sync's verification step: a commit is applied only when it verifies against what the site
//! trusts ([`Verification`]); a refusal is reported and nothing else happens; a commit whose
//! manifest expired is reported as stale desired state.

use super::{GitSync, now_millis};
use crate::Error;
use crate::gitsync::mirror::{Entry, Snapshot};
use crate::gitsync::trust::{Accepted, TrustStore};
use crate::gitsync::verify::{self, Candidate, Trust};

/// How a site verifies commits before applying them.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Against the pinned keys (and what a rotation moved them to), durable state in sled.
    Signed(TrustStore),
    /// No key is pinned: every commit is refused.
    NoKeys,
    /// Not at all (`signing.insecure_unsigned`).
    Off,
}

impl GitSync {
    /// Verifies `snap` (per [`Verification`]); records an accepted manifest durably (its
    /// version, and the key set it announces) before anything of it is applied.
    pub(super) async fn verify(&mut self, snap: &Snapshot) -> Result<Result<(), String>, Error> {
        let store = match &self.verification {
            Verification::Off => return Ok(Ok(())),
            Verification::NoKeys => {
                return Ok(Err(
                    "no signing keys are pinned (signing.keys in the site config)".into(),
                ));
            }
            Verification::Signed(store) => store.clone(),
        };
        let accepted = store.accepted()?;
        let keys = store.trusted(accepted.as_ref());
        let site = &self.ctx.site;
        let files: Vec<(String, &Entry)> = snap
            .definitions
            .iter()
            .map(|(f, e)| (format!("definitions/{f}"), e))
            .chain(
                snap.site_files
                    .iter()
                    .map(|(rel, e)| (format!("sites/{site}/{rel}"), e)),
            )
            .collect();
        let scopes = ["definitions/".to_string(), format!("sites/{site}/")];
        let candidate = Candidate {
            commit: &snap.commit,
            manifest: snap.manifest.as_ref(),
            signatures: snap.signatures.as_ref(),
            site,
            checksums: &snap.checksums,
            files: &files,
            scopes: &scopes,
        };
        let trust = Trust {
            domain: &self.ctx.domain,
            keys: &keys,
            last: accepted.as_ref().map(|a| (a.version, a.commit.as_str())),
            now_ms: now_millis(),
        };
        let manifest = match verify::verify(&candidate, &trust) {
            Ok(m) => m,
            Err(refusal) => return Ok(Err(refusal.to_string())),
        };
        let next = Accepted {
            version: manifest.version,
            commit: snap.commit.clone(),
            expires_at_ms: manifest.expires_at_ms,
            key_set: manifest.key_set,
            pinned: store.pinned_fingerprint(),
        };
        if accepted.as_ref() != Some(&next) {
            tracing::info!(site = %self.ctx.site, commit = %next.commit, version = next.version,
                expires_at = %maestro_common::time::rfc3339(next.expires_at_ms), "accepted a signed manifest");
            if next.key_set != keys {
                tracing::warn!(site = %self.ctx.site, version = next.version, keys = ?next.key_set.keys,
                    threshold = next.key_set.threshold, "accepted a new signing key set");
                self.ctx.outbox.log(
                    "warn",
                    "",
                    "gitsync",
                    format!(
                        "accepted a new signing key set at manifest version {} ({} keys, threshold {})",
                        next.version,
                        next.key_set.keys.len(),
                        next.key_set.threshold
                    ),
                );
            }
            store.save(&next).await?;
        }
        Ok(Ok(()))
    }

    /// Reports the refusal of `commit` (logged once per commit); nothing is applied or recorded.
    pub(super) fn refuse(&mut self, commit: &str, reason: &str) {
        let sentence = format!("refused commit {}: {reason}", refusal_short(commit));
        if self
            .refused
            .as_ref()
            .is_none_or(|(c, s)| c != commit || *s != sentence)
        {
            tracing::warn!(site = %self.ctx.site, commit = %commit, reason = %reason,
                "refused a commit; keeping the last verified state");
            self.ctx.outbox.log(
                "error",
                "",
                "gitsync",
                format!("{sentence}; keeping the last verified state"),
            );
        }
        self.ctx.sync.failed(sentence.clone(), now_millis());
        self.refused = Some((commit.to_string(), sentence));
        self.ctx.poke_reporter();
    }

    /// After a fetch and an apply that succeeded: healthy, unless the manifest of the commit
    /// the site runs has expired (desired state stale: it keeps running, and says so).
    pub(super) fn settle(&self) -> Result<(), Error> {
        match self.stale_note()? {
            Some(note) => self.ctx.sync.failed(note, now_millis()),
            None => self.ctx.sync.healthy(),
        }
        Ok(())
    }

    /// Says the desired state is stale when the manifest accepted last has expired (None
    /// otherwise, and when commits are not verified).
    pub(super) fn stale_note(&self) -> Result<Option<String>, Error> {
        let Verification::Signed(store) = &self.verification else {
            return Ok(None);
        };
        Ok(store
            .accepted()?
            .filter(|a| a.expires_at_ms <= now_millis())
            .map(|a| {
                format!(
                    "desired state stale since {}: the manifest (version {}) of commit {} expired \
                     and no newer signed commit arrived; keeping the last verified state",
                    maestro_common::time::rfc3339(a.expires_at_ms),
                    a.version,
                    refusal_short(&a.commit)
                )
            }))
    }
}

/// The 8-digit commit prefix of refusals and stale notices.
pub(super) fn refusal_short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}
