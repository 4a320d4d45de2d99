//! Property tests of the blueprint files a site agent reads from Git: `parse_blueprint`,
//! `parse_blueprint_path` and `parse_definition` get arbitrary bytes, arbitrary JSON and
//! documents of the right shape with hostile contents.
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed (`cc ...`), saved in `prop_blueprints.proptest-regressions` next to this
//! file. See `docs/testing.md`.

use maestro_common::contract::{BlueprintDocument, DocumentMetadata, blueprint_path};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};
use site_agent::gitsync::files::{
    INTENT_GENERATION, INTENT_ID, ORDER_ID, parse_blueprint, parse_blueprint_path, parse_definition,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._-]{1,70}",
        "[\\x00-\\x1f\\x7f/\\\\.]{0,8}",
        ("[a-z]", 0usize..3000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_tree(true)
}

/// JSON without floats: values whose text reads back exactly (a float's shortest text may read
/// back one unit in the last place off without serde_json's `float_roundtrip`).
fn exact_json_value() -> impl Strategy<Value = Value> {
    json_tree(false)
}

fn json_tree(floats: bool) -> impl Strategy<Value = Value> {
    let float = if floats {
        any::<f64>().prop_map(|f| json!(f)).boxed()
    } else {
        Just(json!(0.5)).boxed()
    };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        float,
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((hostile_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_-]{0,20}"
}

/// A field value that is usually right and sometimes any JSON at all.
fn mostly(right: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![4 => right, 1 => json_value()]
}

/// Documents of the blueprint shape whose parts are, each with some chance, of the wrong type,
/// missing, hostile, or carrying unknown keys.
fn hostile_document(kind: String, bp: String) -> impl Strategy<Value = Value> {
    let annotations = prop::collection::btree_map(
        prop_oneof![
            Just(INTENT_ID.to_string()),
            Just(INTENT_GENERATION.to_string()),
            Just(ORDER_ID.to_string()),
            hostile_string()
        ],
        prop_oneof![
            "[0-9]{1,20}".boxed(),
            hostile_string().boxed(),
            Just("-1".to_string()).boxed()
        ],
        0..4,
    )
    .prop_map(|m| json!(m));
    let labels = prop::collection::btree_map(hostile_string(), hostile_string(), 0..3)
        .prop_map(|m| json!(m));
    (
        mostly(Just(json!(kind)).boxed()),
        mostly(Just(json!(bp)).boxed()),
        mostly(labels.boxed()),
        mostly(annotations.boxed()),
        mostly(
            prop::collection::vec((hostile_string(), json_value()), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect()))
                .boxed(),
        ),
        prop::option::of((hostile_string(), json_value())),
        0u8..8,
    )
        .prop_map(|(k, n, labels, annotations, spec, extra, drop)| {
            let mut meta = Map::new();
            meta.insert("name".into(), n);
            meta.insert("labels".into(), labels);
            meta.insert("annotations".into(), annotations);
            let mut doc = Map::new();
            doc.insert("kind".into(), k);
            doc.insert("metadata".into(), Value::Object(meta));
            doc.insert("spec".into(), spec);
            if let Some((key, v)) = extra {
                doc.insert(key, v);
            }
            match drop {
                0 => {
                    doc.remove("kind");
                }
                1 => {
                    doc.remove("spec");
                }
                2 => {
                    if let Some(Value::Object(m)) = doc.get_mut("metadata") {
                        m.remove("annotations");
                    }
                }
                _ => {}
            }
            Value::Object(doc)
        })
}

/// Every refusal says which part of the file is wrong.
const NAMED: [&str; 6] = [
    "invalid JSON",
    "not a JSON object",
    "kind",
    "metadata",
    "spec",
    "unknown field",
];

fn names_a_field(e: &str) -> bool {
    !e.is_empty() && NAMED.iter().any(|f| e.contains(f))
}

/// A valid document: names from the alphabet, hostile labels and spec, the intent annotations.
fn valid_document() -> impl Strategy<Value = BlueprintDocument> {
    (
        name(),
        name(),
        prop::collection::btree_map(hostile_string(), hostile_string(), 0..3),
        hostile_string(),
        prop::option::of(any::<u64>()),
        prop::collection::vec((hostile_string(), exact_json_value()), 0..4),
    )
        .prop_map(|(kind, name, labels, intent, generation, spec)| {
            let mut annotations = std::collections::BTreeMap::new();
            annotations.insert(INTENT_ID.to_string(), format!("i-{intent}"));
            if let Some(g) = generation {
                annotations.insert(INTENT_GENERATION.to_string(), g.to_string());
            }
            BlueprintDocument {
                kind,
                metadata: DocumentMetadata {
                    name,
                    labels,
                    annotations,
                },
                spec: spec.into_iter().collect(),
            }
        })
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes: never a panic; a refusal names what is wrong.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), kind in name(), bp in name()) {
        if let Err(e) = parse_blueprint(&kind, &bp, &bytes, "c", "s") {
            prop_assert!(names_a_field(&e), "{e}");
        }
    }

    /// Arbitrary JSON values: never a panic; only an object can be accepted.
    #[test]
    fn arbitrary_json_never_panics(v in json_value(), kind in name(), bp in name()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        match parse_blueprint(&kind, &bp, &bytes, "c", "s") {
            Ok(_) => prop_assert!(v.is_object()),
            Err(e) => prop_assert!(names_a_field(&e), "{e}"),
        }
    }

    /// Documents of the right shape with hostile or ill-typed parts: never a panic; a refusal
    /// names the field; an accepted one keeps kind, name, labels and annotations and is placed
    /// in the agent's colony and location.
    #[test]
    fn hostile_documents_are_refused_by_field(
        (kind, bp, doc) in (name(), name()).prop_flat_map(|(k, n)| {
            (Just(k.clone()), Just(n.clone()), hostile_document(k, n))
        })
    ) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        match parse_blueprint(&kind, &bp, &bytes, "colony-1", "site-1") {
            Ok(b) => {
                prop_assert_eq!(&b.kind, &kind);
                prop_assert_eq!(&b.metadata.name, &bp);
                prop_assert_eq!(b.metadata.colony_name.as_str(), "colony-1");
                prop_assert_eq!(b.metadata.location_name.as_str(), "site-1");
                prop_assert!(!b.metadata.annotations.get(INTENT_ID).unwrap().is_empty());
                prop_assert_eq!(json!(b.metadata.labels), doc["metadata"]["labels"].clone());
            }
            Err(e) => prop_assert!(names_a_field(&e), "{e}"),
        }
    }

    /// A valid document parses; it re-serialises canonically and parses to the same value; the
    /// canonical form is a fixed point; the colony blueprint carries the same parts.
    #[test]
    fn valid_documents_round_trip(doc in valid_document()) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let parsed = BlueprintDocument::parse(&doc.kind, &doc.metadata.name, &bytes).unwrap();
        prop_assert_eq!(&parsed, &doc);
        let canonical = parsed.to_canonical();
        let again = BlueprintDocument::parse(&doc.kind, &doc.metadata.name, canonical.as_bytes())
            .unwrap();
        prop_assert_eq!(&again, &doc);
        prop_assert_eq!(again.to_canonical(), canonical);
        let bp = parse_blueprint(&doc.kind, &doc.metadata.name, &bytes, "c", "s").unwrap();
        prop_assert_eq!(&bp.metadata.labels, &doc.metadata.labels);
        prop_assert_eq!(&bp.metadata.annotations, &doc.metadata.annotations);
        prop_assert_eq!(bp.spec, Value::Object(doc.spec.clone()));
    }

    /// Arbitrary paths: never a panic; an accepted path is `<kind>/<name>.json` of two valid
    /// names, and rebuilding it gives the same path.
    #[test]
    fn arbitrary_paths_never_panic(rel in prop_oneof![
        hostile_string(),
        "(\\.\\.|/|[a-z]{1,3}|\\.json|\\\\|\\x00){0,8}",
    ]) {
        match parse_blueprint_path(&rel) {
            Ok((kind, bp)) => {
                prop_assert_eq!(format!("{kind}/{bp}.json"), rel.clone());
                let full = blueprint_path("site", &kind, &bp);
                prop_assert_eq!(full.strip_prefix("sites/site/"), Some(rel.as_str()));
                prop_assert!(!rel.contains("..") && !rel.contains('\\'));
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// Valid kinds and names give paths that parse back to them.
    #[test]
    fn valid_paths_round_trip(kind in name(), bp in name()) {
        let full = blueprint_path("north-1", &kind, &bp);
        let rel = full.strip_prefix("sites/north-1/").unwrap();
        prop_assert_eq!(parse_blueprint_path(rel).unwrap(), (kind, bp));
    }

    /// Definitions: arbitrary bytes and arbitrary JSON never panic; a refusal has a reason.
    #[test]
    fn definitions_never_panic(
        file in prop_oneof![hostile_string(), "[A-Za-z]{1,10}\\.json"],
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    ) {
        if let Err(e) = parse_definition(&file, &bytes, "c") {
            prop_assert!(!e.is_empty());
        }
    }
}
