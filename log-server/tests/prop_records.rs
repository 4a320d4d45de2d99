//! Property tests of the log server's edge: `Record: TryFrom<proto::Record>` and
//! `validate_push` with arbitrary records (built field by field, and decoded from arbitrary
//! bytes as gRPC would).
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed (`cc ...`), saved in `prop_records.proptest-regressions` next to this
//! file. See `docs/testing.md`.

use log_server::{MAX_RECORDS_PER_PUSH, MAX_STREAM_CHARS, Record, validate_push};
use maestro_proto::logs::v1 as proto;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use prost::Message;
use prost_types::Timestamp;

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

fn name_or_hostile() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z0-9][a-z0-9-]{0,20}", 1 => hostile_string(), 1 => Just(String::new())]
}

fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    prop::option::of(
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos }),
    )
}

fn commit() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9a-f]{40}",
        "[0-9a-f]{64}",
        "[0-9a-fA-F]{39,41}",
        hostile_string(),
    ]
}

fn body() -> impl Strategy<Value = Option<proto::record::Body>> {
    let log = (hostile_string(), hostile_string(), hostile_string()).prop_map(
        |(level, message, source)| {
            proto::record::Body::Log(proto::LogLine {
                level,
                message,
                source,
            })
        },
    );
    let status = (
        hostile_string(),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
        hostile_string(),
        hostile_string(),
    )
        .prop_map(
            |(kind, ready, total, converged, removed, status_json, message)| {
                proto::record::Body::Status(proto::BlueprintStatus {
                    kind,
                    ready_instances: ready,
                    total_instances: total,
                    converged,
                    removed,
                    status_json,
                    message,
                })
            },
        );
    let heartbeat = (
        any::<u32>(),
        commit(),
        timestamp(),
        prop_oneof![hostile_string(), "[a-z ]{2040,2060}"],
        timestamp(),
    )
        .prop_map(
            |(blueprints, commit, synced_at, sync_error, failing_since)| {
                proto::record::Body::Heartbeat(proto::SiteHeartbeat {
                    blueprints,
                    commit,
                    synced_at,
                    sync_error,
                    failing_since,
                    ..Default::default()
                })
            },
        );
    prop_oneof![1 => Just(None), 3 => log.prop_map(Some), 3 => status.prop_map(Some), 3 => heartbeat.prop_map(Some)]
}

fn stream() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![Just("status"), Just("log"), Just("heartbeat")].prop_map(str::to_string),
        1 => hostile_string(),
        1 => "[a-z]{60,70}",
    ]
}

prop_compose! {
    fn record()(
        sequence in any::<u64>(),
        domain in prop_oneof![Just(String::new()), Just("north".to_string()), hostile_string()],
        site in name_or_hostile(),
        blueprint in name_or_hostile(),
        generation in any::<u64>(),
        stream in stream(),
        sender_sequence in prop_oneof![Just(0u64), any::<u64>()],
        observed_at in timestamp(),
        received_at in timestamp(),
        intent_id in hostile_string(),
        order_id in hostile_string(),
        body in body(),
    ) -> proto::Record {
        proto::Record {
            sequence, domain, site, blueprint, generation, stream, sender_sequence,
            observed_at, received_at, intent_id, order_id, body,
            // Not kept by the log server (read at push for the trace only).
            traceparent: String::new(),
        }
    }
}

const FIELDS: [&str; 6] = [
    "site",
    "blueprint",
    "stream",
    "sender_sequence",
    "body",
    "domain",
];

proptest! {
    #![proptest_config(config())]

    /// Any record: never a panic; a refusal names one of the record's fields; an accepted
    /// record satisfies the documented rules and converts back to the same wire record.
    #[test]
    fn records_convert_or_name_the_field(wire in record()) {
        match Record::try_from(wire.clone()) {
            Ok(r) => {
                prop_assert!(r.sender_sequence > 0);
                prop_assert!(!r.stream.is_empty());
                prop_assert!(r.stream.chars().count() <= MAX_STREAM_CHARS);
                prop_assert!(!r.stream.chars().any(char::is_control));
                prop_assert_eq!(r.site.as_str(), wire.site.as_str());
                prop_assert_eq!(proto::Record::from(r), wire);
            }
            Err(e) => {
                prop_assert!(FIELDS.iter().any(|f| e.field.starts_with(f)), "{e}");
                prop_assert!(!e.reason.is_empty());
            }
        }
    }

    /// Arbitrary bytes decoded as gRPC would: never a panic in decoding nor in conversion.
    #[test]
    fn decoded_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(wire) = proto::Record::decode(bytes.as_slice())
            && let Err(e) = Record::try_from(wire)
        {
            prop_assert!(!e.field.is_empty() && !e.reason.is_empty());
        }
    }

    /// A push is accepted whole or refused at its first bad record, named `records[i]...`;
    /// accepted records get the server's domain and lose the client's sequence and arrival time.
    #[test]
    fn pushes_are_checked_whole(
        records in prop::collection::vec(record(), 0..8),
        max_bytes in prop_oneof![Just(usize::MAX), 0usize..4096],
    ) {
        match validate_push(records.clone(), "north", max_bytes) {
            Ok(out) => {
                prop_assert_eq!(out.len(), records.len());
                for (r, wire) in out.iter().zip(&records) {
                    prop_assert_eq!(r.domain.as_str(), "north");
                    prop_assert_eq!(r.sequence, 0);
                    prop_assert_eq!(r.received_at, None);
                    prop_assert!(wire.encoded_len() <= max_bytes);
                    prop_assert_eq!(r.sender_sequence, wire.sender_sequence);
                }
            }
            Err(e) => {
                // The push is refused at the first record that is refused on its own.
                let first_bad = records.iter().position(|w| {
                    w.encoded_len() > max_bytes
                        || (!w.domain.is_empty() && w.domain != "north")
                        || Record::try_from(w.clone()).is_err()
                        || validate_push(vec![w.clone()], "north", max_bytes).is_err()
                });
                let i = first_bad.expect("refused a push of good records");
                prop_assert!(e.field.starts_with(&format!("records[{i}]")), "{e}");
                prop_assert!(!e.reason.is_empty());
            }
        }
    }
}

#[test]
fn a_push_over_the_limit_names_records() {
    let wire = proto::Record {
        site: "s1".into(),
        stream: "log".into(),
        sender_sequence: 1,
        body: Some(proto::record::Body::Log(proto::LogLine::default())),
        ..Default::default()
    };
    let e = validate_push(vec![wire; MAX_RECORDS_PER_PUSH + 1], "north", usize::MAX).unwrap_err();
    assert_eq!(e.field, "records");
}
