//! What a site trusts: the domain's public signing keys pinned in its config (`signing`), and
//! what it accepted last ([`Accepted`], durable in its sled): the manifest version (so a
//! restart cannot be rolled back), the commit, the expiry, and the key set a rotation moved it to.

use maestro_common::FieldError;
use maestro_common::manifest::{KeySet, PublicKey};
use serde::{Deserialize, Serialize};

const ACCEPTED_KEY: &[u8] = b"trust/accepted";

/// The `signing` section of the site config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningSettings {
    /// The domain's public signing keys (64 hex digits each, `maestroctl keys generate` writes
    /// them to `<name>.pub`). Without any, every commit is refused.
    pub keys: Vec<String>,
    /// How many distinct pinned keys must have signed a manifest.
    pub threshold: u32,
    /// Apply commits without verifying anything (a warning at start). For tests and migrations.
    pub insecure_unsigned: bool,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            threshold: 1,
            insecure_unsigned: false,
        }
    }
}

impl SigningSettings {
    /// Checks the section; the error names the key under `field`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.insecure_unsigned && !self.keys.is_empty() {
            return Err(FieldError::new(
                format!("{field}.insecure_unsigned"),
                "cannot be set together with keys",
            ));
        }
        self.pinned(field).map(|_| ())
    }

    /// The pinned key set (None when no key is pinned).
    pub fn pinned(&self, field: &str) -> Result<Option<KeySet>, FieldError> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let keys = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| PublicKey::parse(&format!("{field}.keys[{i}]"), k))
            .collect::<Result<Vec<_>, _>>()?;
        KeySet::new(field, self.threshold, keys).map(Some)
    }
}

/// The manifest a site accepted last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Its version: nothing older is accepted again.
    pub version: u64,
    /// The commit it came with: the same version in another commit is refused.
    pub commit: String,
    /// When it expires (millis): after that the site says its desired state is stale.
    pub expires_at_ms: i64,
    /// The key set it announced: what the site trusts from then on.
    pub key_set: KeySet,
    /// Fingerprint of the pinned set this state descends from: when the operator pins other
    /// keys, the pinned ones win over a rotation accepted before.
    pub pinned: String,
}

/// The durable trust state of one site, in its sled.
#[derive(Debug, Clone)]
pub struct TrustStore {
    /// The database of `tree`, flushed as a whole.
    db: sled::Db,
    tree: sled::Tree,
    pinned: KeySet,
}

impl TrustStore {
    /// The state kept in `db` (its tree `trust`), starting from the `pinned` keys.
    pub fn open(db: &sled::Db, pinned: KeySet) -> Result<Self, sled::Error> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("trust")?,
            pinned,
        })
    }

    /// What was accepted last (None before the first commit, or when the record is unreadable).
    pub fn accepted(&self) -> Result<Option<Accepted>, sled::Error> {
        Ok(self
            .tree
            .get(ACCEPTED_KEY)?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The keys to verify with: those a rotation moved to, unless other keys were pinned since.
    pub fn trusted(&self, accepted: Option<&Accepted>) -> KeySet {
        match accepted {
            Some(a) if a.pinned == self.pinned.fingerprint() => a.key_set.clone(),
            _ => self.pinned.clone(),
        }
    }

    /// The fingerprint of the pinned set.
    pub fn pinned_fingerprint(&self) -> String {
        self.pinned.fingerprint()
    }

    /// Records `accepted`, flushed before it returns.
    pub async fn save(&self, accepted: &Accepted) -> Result<(), sled::Error> {
        let bytes = serde_json::to_vec(accepted).unwrap_or_default();
        self.tree.insert(ACCEPTED_KEY, bytes)?;
        maestro_common::durable::flush(&self.db).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_common::manifest::SigningKey;

    fn set(keys: &[&SigningKey]) -> KeySet {
        KeySet::new("s", 1, keys.iter().map(|k| k.public()).collect()).unwrap()
    }

    #[tokio::test]
    async fn a_rotation_is_kept_until_other_keys_are_pinned_and_the_version_always() {
        let (a, b, c) = (
            SigningKey::generate().unwrap().0,
            SigningKey::generate().unwrap().0,
            SigningKey::generate().unwrap().0,
        );
        let db = sled::Config::new().temporary(true).open().unwrap();
        let pinned_a = TrustStore::open(&db, set(&[&a])).unwrap();
        assert_eq!(pinned_a.accepted().unwrap(), None);
        assert_eq!(pinned_a.trusted(None), set(&[&a]));
        let rotated = Accepted {
            version: 9,
            commit: "c9".into(),
            expires_at_ms: 1,
            key_set: set(&[&b]),
            pinned: pinned_a.pinned_fingerprint(),
        };
        pinned_a.save(&rotated).await.unwrap();
        // Read back (as after a restart): the rotated set is trusted.
        let again = TrustStore::open(&db, set(&[&a])).unwrap();
        let accepted = again.accepted().unwrap();
        assert_eq!(accepted.as_ref(), Some(&rotated));
        assert_eq!(again.trusted(accepted.as_ref()), set(&[&b]));
        // The operator pins other keys: they win, the version stays.
        let repinned = TrustStore::open(&db, set(&[&c])).unwrap();
        let accepted = repinned.accepted().unwrap();
        assert_eq!(repinned.trusted(accepted.as_ref()), set(&[&c]));
        assert_eq!(accepted.map(|a| a.version), Some(9));
    }

    #[test]
    fn the_signing_section_is_validated_naming_the_key() {
        let with = |keys: Vec<&str>, threshold, insecure| SigningSettings {
            keys: keys.into_iter().map(String::from).collect(),
            threshold,
            insecure_unsigned: insecure,
        };
        let k = SigningKey::generate().unwrap().0.public().to_string();
        assert_eq!(with(vec![&k], 1, false).validate("signing"), Ok(()));
        assert_eq!(with(vec![], 1, true).validate("signing"), Ok(()));
        assert_eq!(with(vec![], 1, false).pinned("signing"), Ok(None));
        let field = |s: SigningSettings| s.validate("signing").unwrap_err().field;
        assert_eq!(field(with(vec![&k], 1, true)), "signing.insecure_unsigned");
        assert_eq!(field(with(vec!["zz"], 1, false)), "signing.keys[0]");
        assert_eq!(field(with(vec![&k], 2, false)), "signing.threshold");
        assert_eq!(field(with(vec![&k, &k], 1, false)), "signing.keys[1]");
    }
}
