//! [`ManifestSigner`]: builds and signs the manifest of a tree, and tells whether the manifest a
//! branch already holds is still current (same files, same key set and signers, far enough
//! from its expiry).

use super::VersionCounter;
use maestro_common::manifest::{KeySet, Manifest, Scope, Signatures, SigningKey};

/// A manifest and its signatures, as stored in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The bytes of `manifest.json`.
    pub manifest: Vec<u8>,
    /// The bytes of `manifest.sig`.
    pub signatures: Vec<u8>,
    /// The manifest's version.
    pub version: u64,
}

/// Signs the manifests of one domain.
#[derive(Debug)]
pub struct ManifestSigner {
    domain: String,
    keys: Vec<SigningKey>,
    key_set: KeySet,
    validity_ms: i64,
    renew_before_ms: i64,
    versions: VersionCounter,
}

fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl ManifestSigner {
    /// A signer for `domain` signing with `keys`, announcing `key_set`.
    pub fn new(
        domain: &str,
        keys: Vec<SigningKey>,
        key_set: KeySet,
        validity_secs: u64,
        renew_before_secs: u64,
        versions: VersionCounter,
    ) -> Self {
        Self {
            domain: domain.to_string(),
            keys,
            key_set,
            validity_ms: millis(validity_secs),
            renew_before_ms: millis(renew_before_secs),
            versions,
        }
    }

    /// The key set every manifest announces.
    pub fn key_set(&self) -> &KeySet {
        &self.key_set
    }

    /// The manifest of `scope` (the tree's files, [`Scope::of`]) with the next version (above
    /// `head_version`, the version the branch holds), valid from `now_ms`, signed by every key.
    /// Takes the version durably first (blocking).
    pub fn sign(
        &self,
        scope: &Scope,
        head_version: u64,
        now_ms: i64,
    ) -> Result<SignedManifest, sled::Error> {
        let version = self.versions.next(head_version)?;
        let manifest = Manifest::of_scope(
            &self.domain,
            version,
            now_ms,
            now_ms.saturating_add(self.validity_ms),
            self.key_set.clone(),
            scope,
        )
        .to_bytes();
        let signatures = Signatures::sign(&manifest, &self.keys).to_bytes();
        Ok(SignedManifest {
            manifest,
            signatures,
            version,
        })
    }

    /// Whether the branch's manifest (`manifest`, `signatures`: the files of its head) needs
    /// no new signing for `scope` at `now_ms`: it is this domain's, a version 2 manifest of
    /// exactly `scope` (the same definitions, the same checksums file of every shard), announces
    /// the configured key set, carries a valid signature of every signing key and no other, and
    /// expires later than `renew_before` from now.
    pub fn is_current(
        &self,
        manifest: Option<&[u8]>,
        signatures: Option<&[u8]>,
        scope: &Scope,
        now_ms: i64,
    ) -> bool {
        let (Some(bytes), Some(sigs)) = (manifest, signatures) else {
            return false;
        };
        let (Ok(m), Ok(sigs)) = (Manifest::parse(bytes), Signatures::parse(sigs)) else {
            return false;
        };
        let signers: Vec<_> = self.keys.iter().map(SigningKey::public).collect();
        let all_signed = sigs.signatures.len() == signers.len()
            && signers.iter().all(|k| {
                sigs.signatures
                    .iter()
                    .any(|s| s.key == *k && k.verifies(bytes, &s.signature))
            });
        m.domain == self.domain
            && m.key_set == self.key_set
            && all_signed
            && m.expires_at_ms.saturating_sub(now_ms) > self.renew_before_ms
            && m.checksums
            && m.files == scope.files
    }

    /// The version of the branch's manifest when this domain signed it (a key it signs with, or
    /// the threshold of the set it announces), else 0: a version someone else wrote on the
    /// branch must not move the counter (a huge one would exhaust it).
    pub fn branch_version(&self, manifest: Option<&[u8]>, signatures: Option<&[u8]>) -> u64 {
        let (Some(bytes), Some(sigs)) = (manifest, signatures) else {
            return 0;
        };
        let Ok(sigs) = Signatures::parse(sigs) else {
            return 0;
        };
        let ours = self.keys.iter().any(|k| {
            let public = k.public();
            sigs.signatures
                .iter()
                .any(|s| s.key == public && public.verifies(bytes, &s.signature))
        }) || self.key_set.is_satisfied(bytes, &sigs);
        match Manifest::parse(bytes) {
            Ok(m) if ours && m.domain == self.domain => m.version,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn signer(dir: &std::path::Path, validity: u64, renew: u64) -> (ManifestSigner, KeySet) {
        let db = sled::open(dir).unwrap();
        let key = SigningKey::generate().unwrap().0;
        let set = KeySet::new("s", 1, vec![key.public()]).unwrap();
        let s = ManifestSigner::new(
            "north",
            vec![key],
            set.clone(),
            validity,
            renew,
            VersionCounter::new(db.open_tree("v").unwrap()),
        );
        (s, set)
    }

    #[test]
    fn a_signed_manifest_verifies_and_stays_current_until_renewal_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let (s, set) = signer(dir.path(), 100, 40);
        let files = Scope::of(&BTreeMap::from([(
            "sites/a/K/x.json".to_string(),
            "{}".to_string(),
        )]));
        let signed = s.sign(&files, 0, 1_000_000).unwrap();
        assert_eq!(signed.version, 1);
        let sigs = Signatures::parse(&signed.signatures).unwrap();
        assert!(set.is_satisfied(&signed.manifest, &sigs));
        let m = Manifest::parse(&signed.manifest).unwrap();
        assert_eq!((m.issued_at_ms, m.expires_at_ms), (1_000_000, 1_100_000));
        let current = |files: &Scope, now| {
            s.is_current(Some(&signed.manifest), Some(&signed.signatures), files, now)
        };
        assert!(current(&files, 1_059_000));
        assert!(
            !current(&files, 1_060_000),
            "renewal due 40 s before expiry"
        );
        let other = Scope::of(&BTreeMap::from([(
            "sites/a/K/x.json".to_string(),
            "{ }".to_string(),
        )]));
        assert!(!current(&other, 1_000_000), "other content");
        let v1 = Manifest::of_files("north", 1, 1_000_000, 1_100_000, set.clone(), []).to_bytes();
        let v1_sigs = Signatures::sign(&v1, &s.keys).to_bytes();
        assert!(
            !s.is_current(
                Some(&v1),
                Some(&v1_sigs),
                &Scope::of(&BTreeMap::<String, String>::new()),
                1_000_000
            ),
            "a version 1 manifest is replaced by a version 2 one"
        );
        assert!(!s.is_current(None, None, &files, 1_000_000));
        assert_eq!(
            s.sign(&files, 7, 0).unwrap().version,
            8,
            "above the branch's"
        );
        assert_eq!(
            s.branch_version(Some(&signed.manifest), Some(&signed.signatures)),
            1
        );
        // A manifest no key of this domain signed does not count, whatever its version.
        let other = signer(&dir.path().join("other"), 100, 40).0;
        let forged = other.sign(&files, u64::MAX - 1, 0).unwrap();
        assert_eq!(forged.version, u64::MAX);
        assert_eq!(
            s.branch_version(Some(&forged.manifest), Some(&forged.signatures)),
            0
        );
        assert_eq!(s.branch_version(Some(&forged.manifest), None), 0);
    }
}
