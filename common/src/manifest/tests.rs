use super::*;
use std::collections::BTreeMap;

fn keys(n: usize) -> Vec<SigningKey> {
    (0..n).map(|_| SigningKey::generate().unwrap().0).collect()
}

fn sample(set: KeySet) -> Manifest {
    let files: BTreeMap<String, Vec<u8>> = BTreeMap::from([
        (
            "sites/north-1/ProcessDeployment/web.json".into(),
            b"{}".to_vec(),
        ),
        (
            "definitions/ProcessDeployment.json".into(),
            b"{\"k\":1}".to_vec(),
        ),
    ]);
    Manifest::of_files(
        "north",
        7,
        1_700_000_000_000,
        1_700_000_600_000,
        set,
        files.iter().map(|(p, c)| (p, c.as_slice())),
    )
}

#[test]
fn the_bytes_are_canonical_and_round_trip() {
    let k = keys(1);
    let set = KeySet::new("s", 1, vec![k[0].public()]).unwrap();
    let m = sample(set);
    let bytes = m.to_bytes();
    let parsed = Manifest::parse(&bytes).unwrap();
    assert_eq!(parsed, m);
    assert_eq!(parsed.to_bytes(), bytes, "same manifest, same bytes");
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("\"issued_at\": \"2023-11-14T22:13:20.000Z\""),
        "{text}"
    );
    assert_eq!(
        m.files["sites/north-1/ProcessDeployment/web.json"],
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(m.files_under("sites/north-1/").count(), 1);
    assert_eq!(m.files_under("sites/north-2/").count(), 0);
}

#[test]
fn invalid_manifests_are_refused_naming_the_field() {
    let k = keys(1);
    let set = KeySet::new("s", 1, vec![k[0].public()]).unwrap();
    let good = String::from_utf8(sample(set).to_bytes()).unwrap();
    let cases = [
        (good.replace("maestro.manifest/v1", "v0"), "format"),
        (good.replace("\"north\"", "\"no/rth\""), "domain"),
        (
            good.replace("2023-11-14T22:13:20.000Z", "yesterday"),
            "issued_at",
        ),
        (
            good.replace("2023-11-14T22:23:20.000Z", "2023-11-14T22:13:20.000Z"),
            "expires_at",
        ),
        (
            good.replace("\"threshold\": 1", "\"threshold\": 2"),
            "key_set.threshold",
        ),
        (
            good.replace("sites/north-1/ProcessDeployment/web.json", "sites/../x"),
            "files[\"sites/../x\"]",
        ),
        (
            good.replace("definitions/", "other/"),
            "files[\"other/ProcessDeployment.json\"]",
        ),
        (
            good.replace("44136fa3", "44136FA3"),
            "files[\"sites/north-1/ProcessDeployment/web.json\"]",
        ),
        (good.replace("\"version\"", "\"extra\": 1, \"version\""), ""),
    ];
    for (text, field) in cases {
        let e = Manifest::parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    }
    let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
    assert!(
        Manifest::parse(&big)
            .unwrap_err()
            .reason
            .contains("over the limit")
    );
}

#[test]
fn a_threshold_counts_distinct_keys_of_the_set_only() {
    let k = keys(3);
    let set = KeySet::new("s", 2, vec![k[0].public(), k[1].public()]).unwrap();
    let m = sample(set.clone()).to_bytes();
    // One key signing twice is one signer.
    let mut doubled = Signatures::sign(&m, &k[..1]);
    doubled
        .signatures
        .extend(Signatures::sign(&m, &k[..1]).signatures);
    assert_eq!(set.valid_signers(&m, &doubled), 1);
    assert!(!set.is_satisfied(&m, &doubled));
    // A key outside the set does not count.
    let with_outsider = Signatures::sign(&m, &[keys(1).remove(0)]);
    assert_eq!(set.valid_signers(&m, &with_outsider), 0);
    // Two of two.
    let both = Signatures::sign(&m, &k[..2]);
    assert!(set.is_satisfied(&m, &both));
    // A signature of other bytes does not count.
    let mut other = m.clone();
    other[0] = b' ';
    assert_eq!(set.valid_signers(&other, &both), 0);
    // The file round-trips.
    assert_eq!(Signatures::parse(&both.to_bytes()).unwrap(), both);
}

#[test]
fn key_sets_and_signature_files_are_validated() {
    let k = keys(2);
    let e = KeySet::new("pinned", 1, vec![k[0].public(), k[0].public()]).unwrap_err();
    assert_eq!(e.field, "pinned.keys[1]");
    assert_eq!(
        KeySet::new("pinned", 0, vec![k[0].public()])
            .unwrap_err()
            .field,
        "pinned.threshold"
    );
    assert_eq!(
        KeySet::new("pinned", 1, vec![]).unwrap_err().field,
        "pinned.keys"
    );
    assert_eq!(PublicKey::parse("k", "zz").unwrap_err().field, "k");
    let pk = k[1].public();
    assert_eq!(PublicKey::parse("k", &pk.to_string()).unwrap(), pk);
    let bad = br#"{"signatures": [{"key": "00", "signature": "00"}]}"#;
    assert_eq!(
        Signatures::parse(bad).unwrap_err().field,
        "signatures[0].key"
    );
    assert!(Signatures::parse(b"[]").is_err());
    // Reordered keys are the same set.
    let a = KeySet::new("s", 1, vec![k[0].public(), k[1].public()]).unwrap();
    let b = KeySet::new("s", 1, vec![k[1].public(), k[0].public()]).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
}

fn tree() -> BTreeMap<String, String> {
    [
        ("definitions/ProcessDeployment.json", "{\"k\":1}"),
        ("sites/north-1/ProcessDeployment/web.json", "{}"),
        ("sites/north-1/ConfigFile/app conf.json", "{\"c\":2}"),
        ("sites/north-2/ProcessDeployment/db.json", "{\"d\":3}"),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c.to_string()))
    .collect()
}

#[test]
fn a_version_2_manifest_lists_the_definitions_and_the_shards_checksums_files() {
    let files = tree();
    let scope = Scope::of(&files);
    let (shard1, own1) = (shard_path("north-1"), checksums_path("north-1"));
    let shard = checksums::shard_of("north-1");
    assert_eq!(shard, sha256_hex(b"north-1")[..2]);
    // The digest as `sha256sum` prints it (FIPS 180-2's "abc" vector).
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(shard1, format!("checksums/{shard}.sha256"));
    assert_eq!(own1, format!("checksums/{shard}/north-1.sha256"));
    let text = &scope.checksums[&own1];
    assert_eq!(
        text,
        &format!(
            "{}  sites/north-1/ConfigFile/app conf.json\n{}  sites/north-1/ProcessDeployment/web.json\n",
            sha256_hex(b"{\"c\":2}"),
            sha256_hex(b"{}")
        ),
        "sha256sum's format, in path order"
    );
    assert!(
        scope.checksums[&shard1].contains(&format!("{}  {own1}\n", sha256_hex(text.as_bytes()))),
        "the shard's file lists the site's"
    );
    let mut want = vec![
        "definitions/ProcessDeployment.json".to_string(),
        shard1.clone(),
        shard_path("north-2"),
    ];
    want.sort();
    want.dedup();
    assert_eq!(scope.files.keys().cloned().collect::<Vec<_>>(), want);
    assert_eq!(
        scope.files[&shard1],
        sha256_hex(scope.checksums[&shard1].as_bytes())
    );
    // The checksums file parses back to the site's files.
    let parsed = parse_checksums("sites/north-1/", text.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(
        parsed["sites/north-1/ProcessDeployment/web.json"],
        sha256_hex(b"{}")
    );
    // The manifest round-trips, names format v2, and lists no site's file.
    let k = keys(1);
    let set = KeySet::new("s", 1, vec![k[0].public()]).unwrap();
    let m = Manifest::of_scope(
        "north",
        3,
        1_700_000_000_000,
        1_700_000_600_000,
        set,
        &scope,
    );
    let bytes = m.to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("\"format\": \"maestro.manifest/v2\""));
    let parsed = Manifest::parse(&bytes).unwrap();
    assert_eq!(parsed, m);
    assert!(parsed.checksums);
    assert_eq!(parsed.to_bytes(), bytes);
    assert!(!String::from_utf8_lossy(&bytes).contains("web.json"));
}

#[test]
fn a_checksums_file_is_what_sha256sum_checks() {
    let dir = tempfile::tempdir().unwrap();
    let files = tree();
    for (path, content) in &files {
        let at = dir.path().join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, content).unwrap();
    }
    let scope = Scope::of(&files);
    for (path, text) in &scope.checksums {
        let at = dir.path().join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }
    let check = |path: String| {
        std::process::Command::new("sha256sum")
            .args(["--check", "--strict", &path])
            .current_dir(dir.path())
            .output()
            .expect("sha256sum (coreutils) runs")
    };
    for path in [shard_path("north-1"), checksums_path("north-1")] {
        let ok = check(path);
        assert!(ok.status.success(), "{ok:?}");
    }
    std::fs::write(
        dir.path().join("sites/north-1/ProcessDeployment/web.json"),
        "{ }",
    )
    .unwrap();
    assert!(!check(checksums_path("north-1")).status.success());
}

#[test]
fn invalid_checksums_files_and_version_2_manifests_are_refused() {
    let h = sha256_hex(b"x");
    let line = |path: &str| format!("{h}  {path}\n");
    let web = "sites/north-1/K/web.json";
    let cases = [
        (format!("{h} {web}\n"), "line 1: not `<sha256>  <path>`"),
        (
            line(web).to_uppercase(),
            "line 1: a SHA-256 is 64 lowercase hex digits",
        ),
        (
            line("sites/north-2/K/web.json"),
            "is not under sites/north-1/",
        ),
        (line("sites/north-1/../x.json"), "`..`"),
        (line(web) + &line("sites/north-1/K/a.json"), "line 2: "),
        (line(web) + &line(web), "out of order or repeated"),
        (
            line(web).trim_end().to_string(),
            "does not end with a newline",
        ),
    ];
    for (text, want) in cases {
        let e = parse_checksums("sites/north-1/", text.as_bytes()).unwrap_err();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    assert!(
        parse_checksums("sites/north-1/", &[0xff, b'\n'])
            .unwrap_err()
            .contains("UTF-8")
    );
    let big = line(web).repeat(MAX_CHECKSUMS_BYTES / line(web).len() + 1);
    assert!(
        parse_checksums("sites/north-1/", big.as_bytes())
            .unwrap_err()
            .contains("over the limit")
    );
    assert!(parse_checksums("sites/north-1/", b"").unwrap().is_empty());

    let k = keys(1);
    let set = KeySet::new("s", 1, vec![k[0].public()]).unwrap();
    let good = String::from_utf8(
        Manifest::of_scope(
            "north",
            3,
            1_700_000_000_000,
            1_700_000_600_000,
            set,
            &Scope::of(&tree()),
        )
        .to_bytes(),
    )
    .unwrap();
    // A version 2 manifest lists no site's file.
    let e = Manifest::parse(
        good.replace(
            "definitions/ProcessDeployment.json",
            "sites/north-1/K/x.json",
        )
        .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e.field, "files[\"sites/north-1/K/x.json\"]", "{e}");
}
