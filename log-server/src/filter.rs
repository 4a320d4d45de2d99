//! Which records a subscriber or a query wants.

use crate::record::Record;
use maestro_common::{FieldError, ResourceName};
use maestro_proto::logs::v1 as proto;

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
        if let Some(level) = &self.level {
            return record
                .level()
                .is_some_and(|l| l.eq_ignore_ascii_case(level));
        }
        true
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

impl TryFrom<proto::RecordFilter> for RecordFilter {
    type Error = FieldError;

    /// Empty strings mean "no condition"; names are validated (`site`, `blueprint`).
    fn try_from(f: proto::RecordFilter) -> Result<Self, FieldError> {
        let proto::RecordFilter {
            site,
            blueprint,
            intent_ids,
            order_id,
            level,
        } = f;
        let site = non_empty(site)
            .map(|s| ResourceName::parse("site", &s))
            .transpose()?;
        let blueprint = non_empty(blueprint)
            .map(|b| ResourceName::parse("blueprint", &b))
            .transpose()?;
        let intent_ids = intent_ids.into_iter().filter(|i| !i.is_empty()).collect();
        Ok(RecordFilter {
            site,
            blueprint,
            intent_ids,
            order_id: non_empty(order_id),
            level: non_empty(level),
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
        hb.body = Body::Heartbeat(SiteHeartbeat { blueprints: 0 });
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
}
