use super::*;
use maestro_common::manifest::{Scope, SigningKey, checksums_path, sha256_hex, shard_path};
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
    /// The checksums files of north-1's shard and of north-1 (version 2).
    checksums: Vec<(String, Entry)>,
}

impl Fixture {
    /// What domains sign now: a version 2 manifest and the site's checksums file.
    fn new(announced: KeySet) -> Self {
        Self::of(true, announced)
    }

    /// A version 2 manifest, or a version 1 one (every file listed in it).
    fn of(v2: bool, announced: KeySet) -> Self {
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
        if v2 {
            let scope = Scope::of(&listed);
            let manifest =
                Manifest::of_scope("north", 5, NOW - 1000, NOW + 3_600_000, announced, &scope);
            let checksums = [shard_path("north-1"), checksums_path("north-1")]
                .into_iter()
                .map(|p| {
                    let text = scope.checksums[&p].clone();
                    (p, Entry::File(text.into_bytes()))
                })
                .collect();
            return Self {
                files,
                manifest,
                checksums,
            };
        }
        let manifest = Manifest::of_files(
            "north",
            5,
            NOW - 1000,
            NOW + 3_600_000,
            announced,
            listed.iter().map(|(p, c)| (p, c.as_slice())),
        );
        Self {
            files,
            manifest,
            checksums: Vec::new(),
        }
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
                site: "north-1",
                checksums: &self.checksums,
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
    refusals(true);
}

#[test]
fn each_refusal_of_a_version_1_manifest_has_its_reason() {
    refusals(false);
}

fn refusals(v2: bool) {
    let k = key();
    let s = set(1, &[&k]);
    let other = key();
    let f = Fixture::of(v2, s.clone());
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
        site: "north-1",
        checksums: &f.checksums,
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
    let mut south = Fixture::of(v2, s.clone());
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
    let mut added = Fixture::of(v2, s.clone());
    added.files.insert(
        "sites/north-1/ProcessDeployment/evil.json".into(),
        Entry::File(b"{}".to_vec()),
    );
    assert_eq!(
        refused(&added, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/evil.json is not in the manifest"
    );
    let mut changed = Fixture::of(v2, s.clone());
    changed.files.insert(
        "sites/north-1/ProcessDeployment/web.json".into(),
        Entry::File(b"{\"w\":2}".to_vec()),
    );
    assert_eq!(
        refused(&changed, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/web.json does not match the manifest (hash mismatch)"
    );
    let mut removed = Fixture::of(v2, s.clone());
    removed
        .files
        .remove("sites/north-1/ProcessDeployment/web.json");
    assert_eq!(
        refused(&removed, &[&k], trust(&s)),
        "file sites/north-1/ProcessDeployment/web.json of the manifest is missing"
    );
    // A file over a read limit is never loaded (nor applied): listed is enough, unlisted is not.
    let mut big = Fixture::of(v2, s.clone());
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

#[test]
fn a_version_1_manifest_is_still_accepted() {
    let k = key();
    let s = set(1, &[&k]);
    let f = Fixture::of(false, s.clone());
    assert!(!f.manifest.checksums);
    assert_eq!(f.check(&[&k], trust(&s)).unwrap().version, 5);
}

impl Fixture {
    /// Replaces the checksums file at `path` with `text`.
    fn set_checksums(&mut self, path: &str, text: Vec<u8>) {
        self.checksums.retain(|(p, _)| p != path);
        self.checksums.push((path.to_string(), Entry::File(text)));
    }

    fn checksums_text(&self, path: &str) -> String {
        match self.checksums.iter().find(|(p, _)| p == path) {
            Some((_, Entry::File(b))) => String::from_utf8(b.clone()).unwrap(),
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn a_site_checks_its_shard_and_its_own_checksums_file_and_nothing_of_other_sites() {
    let k = key();
    let s = set(1, &[&k]);
    let f = Fixture::new(s.clone());
    let (shard, own) = (shard_path("north-1"), checksums_path("north-1"));
    assert!(f.manifest.checksums);
    assert!(
        f.manifest
            .files
            .keys()
            .all(|p| p.starts_with("definitions/") || p.starts_with("checksums/")),
        "the manifest lists no site's file: {:?}",
        f.manifest.files
    );
    assert!(f.manifest.files.contains_key(&shard));
    assert!(f.check(&[&k], trust(&s)).is_ok());
    let refused = |f: &Fixture| f.check(&[&k], trust(&s)).unwrap_err().to_string();
    // The site's checksums file missing, or changed (a file added to it and to the commit).
    let mut missing = Fixture::new(s.clone());
    missing.checksums.retain(|(p, _)| *p != own);
    assert_eq!(
        refused(&missing),
        format!("file {own} of the manifest is missing")
    );
    let mut forged = Fixture::new(s.clone());
    let evil = "sites/north-1/ProcessDeployment/evil.json";
    forged
        .files
        .insert(evil.into(), Entry::File(b"{}".to_vec()));
    let text = forged.checksums_text(&own) + &format!("{}  {evil}\n", sha256_hex(b"{}"));
    forged.set_checksums(&own, text.clone().into_bytes());
    assert_eq!(
        refused(&forged),
        format!("file {own} does not match the manifest (hash mismatch)")
    );
    // ... and the shard's file changed to match it: the manifest no longer matches that.
    let line = format!("{}  {own}\n", sha256_hex(text.as_bytes()));
    forged.set_checksums(&shard, line.into_bytes());
    assert_eq!(
        refused(&forged),
        format!("file {shard} does not match the manifest (hash mismatch)")
    );
    // A shard's file the domain signed but that does not parse: refused, naming the line.
    let mut bad = Fixture::new(s.clone());
    let text = b"not a line\n".to_vec();
    bad.manifest.files.insert(shard.clone(), sha256_hex(&text));
    bad.set_checksums(&shard, text);
    let e = refused(&bad);
    assert!(
        e.starts_with(&format!("manifest invalid: {shard}: line 1: ")),
        "{e}"
    );
    // A site whose shard is not listed has no files: nothing to read is accepted, a file is not
    // in the manifest. The same when the shard's file does not list the site.
    let mut none = Fixture::new(s.clone());
    none.manifest.files.remove(&shard);
    assert_eq!(
        refused(&none),
        "file sites/north-1/ProcessDeployment/web.json is not in the manifest"
    );
    none.files
        .remove("sites/north-1/ProcessDeployment/web.json");
    assert!(none.check(&[&k], trust(&s)).is_ok());
    let mut unlisted = Fixture::new(s.clone());
    let others = unlisted
        .checksums_text(&shard)
        .lines()
        .filter(|l| !l.ends_with(&own))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    unlisted
        .manifest
        .files
        .insert(shard.clone(), sha256_hex(others.as_bytes()));
    unlisted.set_checksums(&shard, others.into_bytes());
    assert_eq!(
        refused(&unlisted),
        "file sites/north-1/ProcessDeployment/web.json is not in the manifest"
    );
}
