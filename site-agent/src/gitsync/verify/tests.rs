use super::*;
use maestro_common::manifest::SigningKey;
use std::collections::BTreeMap;

const NOW: i64 = 1_800_000_000_000;
const COMMIT: &str = "3f2a1b9c00000000000000000000000000000000";

fn key() -> SigningKey {
    SigningKey::generate().unwrap().0
}

fn set(threshold: u32, keys: &[&SigningKey]) -> KeySet {
    KeySet::new("s", threshold, keys.iter().map(|k| k.public()).collect()).unwrap()
}

/// The files of a commit, the manifest over them and its signatures.
struct Fixture {
    files: BTreeMap<String, Entry>,
    manifest: Manifest,
}

impl Fixture {
    fn new(announced: KeySet) -> Self {
        let files: BTreeMap<String, Entry> = [
            ("definitions/ProcessDeployment.json", "{\"d\":1}"),
            ("sites/north-1/ProcessDeployment/web.json", "{\"w\":1}"),
        ]
        .into_iter()
        .map(|(p, c)| (p.to_string(), Entry::File(c.as_bytes().to_vec())))
        .collect();
        let mut listed: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(p, e)| match e {
                Entry::File(b) => (p.clone(), b.clone()),
                _ => unreachable!(),
            })
            .collect();
        // Another site's file is listed too; this site does not read it.
        listed.insert(
            "sites/north-2/ProcessDeployment/x.json".into(),
            b"{}".to_vec(),
        );
        let manifest = Manifest::of_files(
            "north",
            5,
            NOW - 1000,
            NOW + 3_600_000,
            announced,
            listed.iter().map(|(p, c)| (p, c.as_slice())),
        );
        Self { files, manifest }
    }

    fn check(&self, signers: &[&SigningKey], trust: Trust<'_>) -> Result<Manifest, Refusal> {
        let bytes = self.manifest.to_bytes();
        self.check_bytes(&bytes, signers, trust)
    }

    fn check_bytes(
        &self,
        bytes: &[u8],
        signers: &[&SigningKey],
        trust: Trust<'_>,
    ) -> Result<Manifest, Refusal> {
        let sigs = Signatures {
            signatures: signers
                .iter()
                .map(|k| maestro_common::manifest::SignatureEntry {
                    key: k.public(),
                    signature: k.sign(bytes),
                })
                .collect(),
        };
        let manifest = Entry::File(bytes.to_vec());
        let signatures = Entry::File(sigs.to_bytes());
        let files: Vec<(String, &Entry)> = self.files.iter().map(|(p, e)| (p.clone(), e)).collect();
        let scopes = ["definitions/".to_string(), "sites/north-1/".to_string()];
        verify(
            &Candidate {
                commit: COMMIT,
                manifest: Some(&manifest),
                signatures: Some(&signatures),
                files: &files,
                scopes: &scopes,
            },
            &trust,
        )
    }
}

fn trust(keys: &KeySet) -> Trust<'_> {
    Trust {
        domain: "north",
        keys,
        last: Some((4, "aaaa")),
        now_ms: NOW,
    }
}

#[test]
fn a_signed_commit_is_accepted() {
    let k = key();
    let s = set(1, &[&k]);
    let f = Fixture::new(s.clone());
    assert_eq!(f.check(&[&k], trust(&s)).unwrap().version, 5);
    // The same commit again (a re-check or a restart) is accepted too, even once expired.
    let again = Trust {
        last: Some((5, COMMIT)),
        now_ms: NOW + 7_200_000,
        ..trust(&s)
    };
    assert!(f.check(&[&k], again).is_ok());
}

#[test]
fn each_refusal_has_its_reason() {
    let k = key();
    let s = set(1, &[&k]);
    let other = key();
    let f = Fixture::new(s.clone());
    let refused = |f: &Fixture, signers: &[&SigningKey], t: Trust<'_>| {
        f.check(signers, t).unwrap_err().to_string()
    };
    // Unsigned, or signed by a key that is not trusted.
    assert_eq!(
        refused(&f, &[&other], trust(&s)),
        "signature invalid: 0 valid signature(s) of trusted keys, 1 required"
    );
    assert_eq!(
        refused(&f, &[], trust(&s)),
        refused(&f, &[&other], trust(&s))
    );
    // Bytes changed after signing.
    let bytes = f.manifest.to_bytes();
    let sigs = Signatures::sign(&bytes, std::slice::from_ref(&k));
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b" ");
    let files: Vec<(String, &Entry)> = f.files.iter().map(|(p, e)| (p.clone(), e)).collect();
    let scopes = ["sites/north-1/".to_string()];
    let (m, sg) = (Entry::File(tampered), Entry::File(sigs.to_bytes()));
    let c = Candidate {
        commit: COMMIT,
        manifest: Some(&m),
        signatures: Some(&sg),
        files: &files,
        scopes: &scopes,
    };
    assert!(
        verify(&c, &trust(&s))
            .unwrap_err()
            .to_string()
            .starts_with("signature invalid")
    );
    let c = Candidate {
        manifest: None,
        ..c
    };
    assert!(
        verify(&c, &trust(&s))
            .unwrap_err()
            .to_string()
            .starts_with("unsigned: manifest missing")
    );
    let c = Candidate {
        manifest: Some(&m),
        signatures: None,
        ..c
    };
    assert!(
        verify(&c, &trust(&s))
            .unwrap_err()
            .to_string()
            .starts_with("signature missing")
    );
    // Wrong domain.
    let mut south = Fixture::new(s.clone());
    south.manifest.domain = "south".into();
    assert_eq!(
        refused(&south, &[&k], trust(&s)),
        "manifest of domain south, not this site's"
    );
    // Rollback and replay.
    let newer = Trust {
        last: Some((6, "bbbb")),
        ..trust(&s)
    };
    assert_eq!(
        refused(&f, &[&k], newer),
        "rollback: manifest version 5 is older than the applied version 6"
    );
    let replay = Trust {
        last: Some((5, "bbbbbbbbbb")),
        ..trust(&s)
    };
    assert_eq!(
        refused(&f, &[&k], replay),
        "rollback: manifest version 5 was applied as commit bbbbbbbb"
    );
    // Expired, and issued in the future.
    let late = Trust {
        now_ms: NOW + 3_600_000,
        ..trust(&s)
    };
    assert!(refused(&f, &[&k], late).starts_with("manifest expired at 2027-"));
    let early = Trust {
        now_ms: NOW - 3_600_000,
        ..trust(&s)
    };
    assert!(refused(&f, &[&k], early).starts_with("manifest issued in the future"));
    // A file added, changed, removed, or too large to read.
    let mut added = Fixture::new(s.clone());
    added.files.insert(
        "sites/north-1/ProcessDeployment/evil.json".into(),
        Entry::File(b"{}".to_vec()),
    );
    assert_eq!(
        refused(&added, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/evil.json is not in the manifest"
    );
    let mut changed = Fixture::new(s.clone());
    changed.files.insert(
        "sites/north-1/ProcessDeployment/web.json".into(),
        Entry::File(b"{\"w\":2}".to_vec()),
    );
    assert_eq!(
        refused(&changed, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/web.json does not match the manifest (hash mismatch)"
    );
    let mut removed = Fixture::new(s.clone());
    removed
        .files
        .remove("sites/north-1/ProcessDeployment/web.json");
    assert_eq!(
        refused(&removed, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/web.json of the manifest is missing"
    );
    // A file over a read limit is never loaded (nor applied): listed is enough, unlisted is not.
    let mut big = Fixture::new(s.clone());
    big.files.insert(
        "definitions/ProcessDeployment.json".into(),
        Entry::Refused("too big".into()),
    );
    assert!(big.check(&[&k], trust(&s)).is_ok());
    big.files.insert(
        "sites/north-1/ProcessDeployment/huge.json".into(),
        Entry::Refused("too big".into()),
    );
    assert_eq!(
        refused(&big, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/huge.json is not in the manifest"
    );
    // Signed bytes that are not a manifest.
    let e = f
        .check_bytes(b"{}", &[&k], trust(&s))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("manifest invalid: "), "{e}");
}

#[test]
fn a_threshold_needs_distinct_trusted_keys() {
    let (a, b, c) = (key(), key(), key());
    let two_of_three = set(2, &[&a, &b, &c]);
    let f = Fixture::new(two_of_three.clone());
    assert!(f.check(&[&a, &c], trust(&two_of_three)).is_ok());
    assert_eq!(
        f.check(&[&a, &a], trust(&two_of_three)).unwrap_err(),
        Refusal::SignatureInvalid {
            valid: 1,
            required: 2
        },
        "one key twice is one signature"
    );
    let outsider = key();
    assert_eq!(
        f.check(&[&a, &outsider], trust(&two_of_three)).unwrap_err(),
        Refusal::SignatureInvalid {
            valid: 1,
            required: 2
        }
    );
}

#[test]
fn a_rotation_needs_the_current_and_the_new_keys() {
    let (old, new) = (key(), key());
    let current = set(1, &[&old]);
    let next = set(1, &[&new]);
    let f = Fixture::new(next.clone());
    // Signed by both: accepted, and the manifest names the new set.
    let m = f.check(&[&old, &new], trust(&current)).unwrap();
    assert_eq!(m.key_set, next);
    // The new key alone is not trusted yet.
    assert_eq!(
        f.check(&[&new], trust(&current)).unwrap_err(),
        Refusal::SignatureInvalid {
            valid: 0,
            required: 1
        }
    );
    // The old key alone cannot announce a set that did not sign.
    assert_eq!(
        f.check(&[&old], trust(&current)).unwrap_err(),
        Refusal::RotationNotSigned {
            valid: 0,
            required: 1
        }
    );
    // After the rotation the old key alone no longer counts.
    let after = Fixture::new(next.clone());
    assert!(after.check(&[&new], trust(&next)).is_ok());
    assert_eq!(
        after.check(&[&old], trust(&next)).unwrap_err(),
        Refusal::SignatureInvalid {
            valid: 0,
            required: 1
        }
    );
}
