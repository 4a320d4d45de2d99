//! Which records a subscriber or a query wants.

use crate::record::{MAX_STREAM_CHARS, Record};
use maestro_common::text::{Lines, MAX_LINE_BYTES, check_text};
use maestro_common::{FieldError, ResourceName};
use maestro_proto::logs::v1 as proto;
use prost_types::Timestamp;

/// Most stream names one filter may list.
pub const MAX_FILTER_STREAMS: usize = 16;
/// Most intent ids in one filter.
pub const MAX_FILTER_INTENTS: usize = 1024;

/// A conjunction of conditions; an empty filter matches every record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only records of this site.
    pub site: Option<ResourceName>,
    /// Only records about this blueprint (site-wide records do not match).
    pub blueprint: Option<ResourceName>,
    /// Only records whose intent id is one of these (any of; empty = no condition).
    pub intent_ids: Vec<String>,
    /// Only records of this order.
    pub order_id: Option<String>,
    /// Only log records at this level (case-insensitive); status and heartbeat records do not match.
    pub level: Option<String>,
    /// Only records observed at or after this time (inclusive). Records without `observed_at`
    /// do not match a time condition.
    pub since: Option<Timestamp>,
    /// Only records observed before this time (exclusive); never before `since`.
    pub until: Option<Timestamp>,
    /// Only records of one of these streams (any of; empty = no condition).
    pub streams: Vec<String>,
}

/// Nanoseconds since the epoch; exact for any `Timestamp`, normalised or not.
fn nanos(ts: &Timestamp) -> i128 {
    i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos)
}

impl RecordFilter {
    /// Whether `record` passes every condition.
    pub fn matches(&self, record: &Record) -> bool {
        if self.site.as_ref().is_some_and(|s| *s != record.site) {
            return false;
        }
        if self
            .blueprint
            .as_ref()
            .is_some_and(|b| record.blueprint.as_ref() != Some(b))
        {
            return false;
        }
        if !self.intent_ids.is_empty() && !self.intent_ids.contains(&record.intent_id) {
            return false;
        }
        if self
            .order_id
            .as_ref()
            .is_some_and(|o| *o != record.order_id)
        {
            return false;
        }
        if !self.streams.is_empty() && !self.streams.contains(&record.stream) {
            return false;
        }
        if !self.observed_in_window(record) {
            return false;
        }
        if let Some(level) = &self.level {
            return record
                .level()
                .is_some_and(|l| l.eq_ignore_ascii_case(level));
        }
        true
    }

    /// `since <= observed_at < until` for the bounds that are set.
    fn observed_in_window(&self, record: &Record) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(observed) = record.observed_at.as_ref().map(nanos) else {
            return false;
        };
        self.since.as_ref().is_none_or(|s| observed >= nanos(s))
            && self.until.as_ref().is_none_or(|u| observed < nanos(u))
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// A bound of the time window: normalised, with `nanos` in `0..1e9`.
fn bound(field: &str, ts: Option<Timestamp>) -> Result<Option<Timestamp>, FieldError> {
    match ts {
        Some(ts) if !(0..1_000_000_000).contains(&ts.nanos) => Err(FieldError::new(
            field,
            format!("nanos {} is outside 0..1000000000", ts.nanos),
        )),
        other => Ok(other),
    }
}

/// Stream names of the filter: non-empty, at most [`MAX_STREAM_CHARS`] characters, no control
/// characters, at most [`MAX_FILTER_STREAMS`] of them.
fn streams(streams: Vec<String>) -> Result<Vec<String>, FieldError> {
    if streams.len() > MAX_FILTER_STREAMS {
        return Err(FieldError::new(
            "streams",
            format!("{} streams, at most {MAX_FILTER_STREAMS}", streams.len()),
        ));
    }
    for (i, s) in streams.iter().enumerate() {
        let field = format!("streams[{i}]");
        if s.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if s.chars().count() > MAX_STREAM_CHARS {
            return Err(FieldError::new(
                field,
                format!("longer than {MAX_STREAM_CHARS} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
    }
    Ok(streams)
}

impl TryFrom<proto::RecordFilter> for RecordFilter {
    type Error = FieldError;

    /// Empty strings mean "no condition"; names are validated (`site`, `blueprint`,
    /// `streams[i]`), the time window must not end before it starts (`until`).
    fn try_from(f: proto::RecordFilter) -> Result<Self, FieldError> {
        let proto::RecordFilter {
            site,
            blueprint,
            intent_ids,
            order_id,
            level,
            since,
            until,
            streams: wanted,
        } = f;
        let site = non_empty(site)
            .map(|s| ResourceName::parse("site", &s))
            .transpose()?;
        let blueprint = non_empty(blueprint)
            .map(|b| ResourceName::parse("blueprint", &b))
            .transpose()?;
        if intent_ids.len() > MAX_FILTER_INTENTS {
            return Err(FieldError::new(
                "intent_ids",
                format!("{} ids, at most {MAX_FILTER_INTENTS}", intent_ids.len()),
            ));
        }
        for (i, id) in intent_ids.iter().enumerate() {
            check_text(&format!("intent_ids[{i}]"), id, MAX_LINE_BYTES, Lines::One)?;
        }
        check_text("order_id", &order_id, MAX_LINE_BYTES, Lines::One)?;
        check_text("level", &level, MAX_LINE_BYTES, Lines::One)?;
        let intent_ids = intent_ids.into_iter().filter(|i| !i.is_empty()).collect();
        let since = bound("since", since)?;
        let until = bound("until", until)?;
        if let (Some(s), Some(u)) = (&since, &until)
            && nanos(u) < nanos(s)
        {
            return Err(FieldError::new("until", "is before since"));
        }
        Ok(RecordFilter {
            site,
            blueprint,
            intent_ids,
            order_id: non_empty(order_id),
            level: non_empty(level),
            since,
            until,
            streams: streams(wanted)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, LogLine, SiteHeartbeat};

    fn record(intent: &str, level: &str) -> Record {
        Record {
            sequence: 1,
            domain: "d".into(),
            site: ResourceName::parse("site", "s1").unwrap(),
            blueprint: Some(ResourceName::parse("blueprint", "web").unwrap()),
            generation: 1,
            stream: "log".into(),
            sender_sequence: 1,
            observed_at: None,
            received_at: None,
            intent_id: intent.into(),
            order_id: "o1".into(),
            body: Body::Log(LogLine {
                level: level.into(),
                message: "m".into(),
                source: String::new(),
            }),
        }
    }

    fn filter(f: proto::RecordFilter) -> RecordFilter {
        RecordFilter::try_from(f).unwrap()
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert!(filter(proto::RecordFilter::default()).matches(&record("i1", "info")));
    }

    #[test]
    fn intent_ids_match_any_of() {
        let f = filter(proto::RecordFilter {
            intent_ids: vec!["i2".into(), "i1".into()],
            ..Default::default()
        });
        assert!(f.matches(&record("i1", "info")));
        assert!(!f.matches(&record("i3", "info")));
    }

    #[test]
    fn site_blueprint_and_order_must_all_match() {
        let f = filter(proto::RecordFilter {
            site: "s1".into(),
            blueprint: "web".into(),
            order_id: "o1".into(),
            ..Default::default()
        });
        assert!(f.matches(&record("i", "info")));
        let mut other = record("i", "info");
        other.blueprint = None;
        assert!(!f.matches(&other));
        let f = filter(proto::RecordFilter {
            site: "s2".into(),
            ..Default::default()
        });
        assert!(!f.matches(&record("i", "info")));
    }

    #[test]
    fn level_selects_log_records_only() {
        let f = filter(proto::RecordFilter {
            level: "ERROR".into(),
            ..Default::default()
        });
        assert!(f.matches(&record("i", "error")));
        assert!(!f.matches(&record("i", "info")));
        let mut hb = record("i", "error");
        hb.body = Body::Heartbeat(SiteHeartbeat {
            blueprints: 0,
            ..SiteHeartbeat::default()
        });
        assert!(!f.matches(&hb));
    }

    #[test]
    fn rejects_path_like_names() {
        let e = RecordFilter::try_from(proto::RecordFilter {
            site: "a/b".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "site");
    }

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn time_window_is_since_inclusive_until_exclusive_on_observed_at() {
        let f = filter(proto::RecordFilter {
            since: at(10),
            until: at(20),
            ..Default::default()
        });
        let observed = |t: Option<Timestamp>| {
            let mut r = record("i", "info");
            r.observed_at = t;
            r.received_at = at(15);
            r
        };
        assert!(f.matches(&observed(at(10))));
        assert!(f.matches(&observed(Some(Timestamp {
            seconds: 19,
            nanos: 999_999_999
        }))));
        assert!(!f.matches(&observed(at(20))));
        assert!(!f.matches(&observed(at(9))));
        // Unknown observation time: not in any window (received_at does not count).
        assert!(!f.matches(&observed(None)));
        // One-sided windows.
        let since = filter(proto::RecordFilter {
            since: at(10),
            ..Default::default()
        });
        assert!(since.matches(&observed(at(1_000))) && !since.matches(&observed(at(9))));
        let until = filter(proto::RecordFilter {
            until: at(10),
            ..Default::default()
        });
        assert!(until.matches(&observed(at(9))) && !until.matches(&observed(at(10))));
        // An empty window is valid and matches nothing.
        let empty = filter(proto::RecordFilter {
            since: at(10),
            until: at(10),
            ..Default::default()
        });
        assert!(!empty.matches(&observed(at(10))));
    }

    #[test]
    fn identifiers_are_bounded_one_line_text() {
        let field = |f: proto::RecordFilter| RecordFilter::try_from(f).unwrap_err().field;
        assert_eq!(
            field(proto::RecordFilter {
                order_id: "o\u{1b}".into(),
                ..Default::default()
            }),
            "order_id"
        );
        assert_eq!(
            field(proto::RecordFilter {
                intent_ids: vec!["i".into(), "x".repeat(MAX_LINE_BYTES + 1)],
                ..Default::default()
            }),
            "intent_ids[1]"
        );
        assert_eq!(
            field(proto::RecordFilter {
                intent_ids: vec!["i".into(); MAX_FILTER_INTENTS + 1],
                ..Default::default()
            }),
            "intent_ids"
        );
    }

    #[test]
    fn until_before_since_is_rejected() {
        let e = RecordFilter::try_from(proto::RecordFilter {
            since: at(20),
            until: Some(Timestamp {
                seconds: 19,
                nanos: 999_999_999,
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "until");
        let e = RecordFilter::try_from(proto::RecordFilter {
            since: Some(Timestamp {
                seconds: 1,
                nanos: -1,
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "since");
    }

    #[test]
    fn streams_match_any_of() {
        let f = filter(proto::RecordFilter {
            streams: vec!["status".into(), "log".into()],
            ..Default::default()
        });
        assert!(f.matches(&record("i", "info")));
        let mut hb = record("i", "info");
        hb.stream = "heartbeat".into();
        assert!(!f.matches(&hb));
    }

    #[test]
    fn stream_names_are_validated_by_index() {
        let cases = [
            (vec!["log".to_string(), String::new()], "streams[1]"),
            (vec!["s".repeat(MAX_STREAM_CHARS + 1)], "streams[0]"),
            (vec!["a\nb".to_string()], "streams[0]"),
            (vec!["log".to_string(); MAX_FILTER_STREAMS + 1], "streams"),
        ];
        for (streams, field) in cases {
            let e = RecordFilter::try_from(proto::RecordFilter {
                streams,
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.field, field);
        }
        assert!(
            RecordFilter::try_from(proto::RecordFilter {
                streams: vec!["é".repeat(MAX_STREAM_CHARS)],
                ..Default::default()
            })
            .is_ok()
        );
    }
}
