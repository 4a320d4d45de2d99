//! Validation of a `Push` request at the edge: the whole batch is checked before anything is stored.

use crate::record::Record;
use maestro_common::FieldError;
use maestro_common::text::{Lines, MAX_LINE_BYTES, check_text};
use maestro_proto::logs::v1 as proto;
use prost::Message;

/// Most records accepted in one `Push`.
pub const MAX_RECORDS_PER_PUSH: usize = 1000;

/// Converts the records of a push into domain records for `domain`, or names the first offending
/// field (`records`, `records[i]`, `records[i].site`, ...). Records with an empty `domain` get
/// `domain`; `sequence` and `received_at` sent by the client are ignored.
pub fn validate_push(
    records: Vec<proto::Record>,
    domain: &str,
    max_record_bytes: usize,
) -> Result<Vec<Record>, FieldError> {
    if records.len() > MAX_RECORDS_PER_PUSH {
        return Err(FieldError::new(
            "records",
            format!(
                "{} records, at most {MAX_RECORDS_PER_PUSH} per request",
                records.len()
            ),
        ));
    }
    records
        .into_iter()
        .enumerate()
        .map(|(i, wire)| {
            validate_one(wire, domain, max_record_bytes)
                .map_err(|e| e.within(&format!("records[{i}]")))
        })
        .collect()
}

fn validate_one(
    wire: proto::Record,
    domain: &str,
    max_record_bytes: usize,
) -> Result<Record, FieldError> {
    let size = wire.encoded_len();
    if size > max_record_bytes {
        return Err(FieldError::new(
            "",
            format!("encoded size {size} bytes exceeds max_record_bytes {max_record_bytes}"),
        ));
    }
    check_identifiers(&wire)?;
    if !wire.domain.is_empty() && wire.domain != domain {
        return Err(FieldError::new(
            "domain",
            format!(
                "{:?} is not this log server's domain {domain:?}",
                wire.domain
            ),
        ));
    }
    let mut record = Record::try_from(wire)?;
    record.domain = domain.to_string();
    record.sequence = 0;
    record.received_at = None;
    Ok(record)
}

/// The one-line fields of a pushed record: at most [`MAX_LINE_BYTES`], no control character.
/// Messages and status JSON are bounded by `max_record_bytes` only: they carry what processes
/// and reconcilers wrote (colours included), and every viewer shows them escaped.
fn check_identifiers(wire: &proto::Record) -> Result<(), FieldError> {
    let line = |field: &str, v: &str| check_text(field, v, MAX_LINE_BYTES, Lines::One);
    line("domain", &wire.domain)?;
    line("intent_id", &wire.intent_id)?;
    line("order_id", &wire.order_id)?;
    match &wire.body {
        Some(proto::record::Body::Log(l)) => {
            line("body.log.level", &l.level)?;
            line("body.log.source", &l.source)
        }
        Some(proto::record::Body::Status(s)) => line("body.status.kind", &s.kind),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(seq: u64) -> proto::Record {
        proto::Record {
            site: "s1".into(),
            stream: "heartbeat".into(),
            sender_sequence: seq,
            sequence: 77,
            body: Some(proto::record::Body::Heartbeat(proto::SiteHeartbeat {
                blueprints: 1,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn fills_the_domain_and_clears_server_fields() {
        let out = validate_push(vec![wire(1)], "north", 1024).unwrap();
        assert_eq!(out[0].domain, "north");
        assert_eq!(out[0].sequence, 0);
    }

    #[test]
    fn rejects_another_domain() {
        let e = validate_push(
            vec![
                wire(1),
                proto::Record {
                    domain: "south".into(),
                    ..wire(2)
                },
            ],
            "north",
            1024,
        )
        .unwrap_err();
        assert_eq!(e.field, "records[1].domain");
    }

    #[test]
    fn accepts_its_own_domain() {
        assert!(
            validate_push(
                vec![proto::Record {
                    domain: "north".into(),
                    ..wire(1)
                }],
                "north",
                1024
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_oversized_records_by_index() {
        let big = proto::Record {
            body: Some(proto::record::Body::Log(proto::LogLine {
                message: "x".repeat(200),
                ..Default::default()
            })),
            ..wire(2)
        };
        let e = validate_push(vec![wire(1), big], "d", 100).unwrap_err();
        assert_eq!(e.field, "records[1]");
        assert!(e.reason.contains("max_record_bytes"), "{e}");
    }

    #[test]
    fn one_line_fields_refuse_control_characters_and_messages_keep_them() {
        let log = |level: &str, message: &str| proto::Record {
            body: Some(proto::record::Body::Log(proto::LogLine {
                level: level.into(),
                message: message.into(),
                source: "p1".into(),
            })),
            ..wire(2)
        };
        let e = validate_push(vec![wire(1), log("info\u{1b}[2J", "m")], "d", 4096).unwrap_err();
        assert_eq!(e.field, "records[1].body.log.level");
        let colour = log("info", "\u{1b}[32mok\u{1b}[0m\r\n");
        assert!(validate_push(vec![colour], "d", 4096).is_ok());
        let intent = proto::Record {
            intent_id: "i".repeat(MAX_LINE_BYTES + 1),
            ..wire(3)
        };
        let e = validate_push(vec![intent], "d", 4096).unwrap_err();
        assert_eq!(e.field, "records[0].intent_id");
    }

    #[test]
    fn rejects_too_many_records() {
        let many: Vec<_> = (1..=MAX_RECORDS_PER_PUSH as u64 + 1).map(wire).collect();
        assert_eq!(validate_push(many, "d", 1024).unwrap_err().field, "records");
    }

    #[test]
    fn prefixes_record_field_errors() {
        let e = validate_push(
            vec![proto::Record {
                body: None,
                ..wire(1)
            }],
            "d",
            1024,
        )
        .unwrap_err();
        assert_eq!(e.field, "records[0].body");
    }
}
