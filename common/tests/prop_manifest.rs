//! Property tests of the signed manifest (`maestro_common::manifest`), which a site reads from a
//! Git server it does not trust: `Manifest::parse`, `Signatures::parse` and `parse_checksums`
//! never panic on any bytes and refuse with a reason; a manifest built from any files round-trips
//! byte for byte; the checksums files of any tree cover exactly its sites' files; and a signature
//! never verifies over bytes other than those signed.
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed, saved next to this file in `prop_manifest.proptest-regressions`. See
//! `docs/testing.md`.

use maestro_common::manifest::{
    KeySet, Manifest, Scope, Signatures, SigningKey, checksums_path, parse_checksums, sha256_hex,
    shard_path,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("a key").0)
}

/// Files a domain could publish: paths under the covered folders, any bytes.
fn files() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    let path = prop_oneof![
        "sites/[a-z0-9-]{1,12}/[A-Za-z]{1,12}/[a-z0-9-]{1,20}\\.json",
        "definitions/[A-Za-z]{1,12}\\.json",
    ];
    prop::collection::btree_map(path, prop::collection::vec(any::<u8>(), 0..64), 0..20)
}

/// JSON-ish bytes near the manifest's shape, and arbitrary ones.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "\\{\"(format|domain|version|issued_at|expires_at|key_set|files|signatures)\": .{0,80}\\}"
            .prop_map(String::into_bytes),
        "[\\[\\]{}\":,0-9a-f ]{0,200}".prop_map(String::into_bytes),
        "([0-9a-f]{60,66} {1,3}(sites|checksums)/[a-z0-9./ -]{0,30}\n?){0,4}"
            .prop_map(String::into_bytes),
    ]
}

fn manifest(files: &BTreeMap<String, Vec<u8>>, version: u64, issued: i64) -> Manifest {
    let set = KeySet::new("k", 1, vec![key().public()]).expect("a key set");
    Manifest::of_files(
        "north",
        version,
        issued,
        issued + 1000,
        set,
        files.iter().map(|(p, c)| (p, c.as_slice())),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_parse_or_are_refused_without_a_panic(bytes in hostile_bytes()) {
        if let Err(e) = Manifest::parse(&bytes) {
            prop_assert!(!e.reason.is_empty());
        }
        if let Err(e) = Signatures::parse(&bytes) {
            prop_assert!(!e.reason.is_empty());
        }
        for prefix in ["sites/n/", "checksums/"] {
            if let Err(e) = parse_checksums(prefix, &bytes) {
                prop_assert!(!e.is_empty());
            }
        }
    }

    #[test]
    fn the_checksums_files_of_any_tree_cover_exactly_its_sites_files(files in files()) {
        let scope = Scope::of(&files);
        let mut sites: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        for (path, content) in &files {
            match path.strip_prefix("sites/").and_then(|r| r.split_once('/')) {
                Some((site, _)) => {
                    sites.entry(site).or_default().insert(path.clone(), sha256_hex(content));
                }
                None => prop_assert_eq!(&scope.files[path], &sha256_hex(content)),
            }
        }
        for (site, want) in &sites {
            // manifest -> the shard's file -> the site's file -> the site's files.
            let shard = shard_path(site);
            let text = &scope.checksums[&shard];
            prop_assert_eq!(&scope.files[&shard], &sha256_hex(text.as_bytes()));
            let listed = parse_checksums("checksums/", text.as_bytes()).expect("it parses");
            let own = checksums_path(site);
            let text = &scope.checksums[&own];
            prop_assert_eq!(&listed[&own], &sha256_hex(text.as_bytes()));
            let prefix = format!("sites/{site}/");
            let parsed = parse_checksums(&prefix, text.as_bytes()).expect("it parses");
            prop_assert_eq!(&parsed, want);
        }
        // Nothing else: no site's file in the manifest, no checksums file of a site without files.
        let shards: std::collections::BTreeSet<String> = sites.keys().map(|s| shard_path(s)).collect();
        prop_assert_eq!(scope.checksums.len(), sites.len() + shards.len());
        prop_assert!(scope.files.keys().all(|p| !p.starts_with("sites/")));
    }

    #[test]
    fn a_manifest_round_trips_byte_for_byte(
        files in files(),
        version in any::<u64>(),
        issued in 0i64..4_000_000_000_000,
    ) {
        let m = manifest(&files, version, issued);
        let bytes = m.to_bytes();
        let parsed = Manifest::parse(&bytes).expect("a manifest it wrote parses");
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }

    #[test]
    fn a_signature_covers_exactly_the_signed_bytes(
        files in files(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let m = manifest(&files, 1, 1_700_000_000_000).to_bytes();
        let set = KeySet::new("k", 1, vec![key().public()]).expect("a key set");
        let sigs = Signatures::sign(&m, std::slice::from_ref(key()));
        prop_assert!(set.is_satisfied(&m, &sigs));
        let mut changed = m.clone();
        changed[at.index(m.len())] ^= flip;
        prop_assert_eq!(set.valid_signers(&changed, &sigs), 0);
        let reparsed = Signatures::parse(&sigs.to_bytes()).expect("signatures it wrote parse");
        prop_assert!(set.is_satisfied(&m, &reparsed));
    }
}
