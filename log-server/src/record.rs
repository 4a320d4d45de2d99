//! Records as the log server understands them. `maestro.logs.v1.Record` is converted with
//! [`TryFrom`] at the edge (and when read back from sled) and rejected field by field.

use maestro_common::{FieldError, ResourceName};
use maestro_proto::logs::v1 as proto;
use prost_types::Timestamp;

/// Longest accepted sender stream name, in characters.
pub const MAX_STREAM_CHARS: usize = 64;

/// One record pushed by a site; `sequence` and `received_at` are set by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Global position assigned on arrival (0 before the record is stored).
    pub sequence: u64,
    /// Domain of the site (filled with the server's domain when the sender left it empty).
    pub domain: String,
    /// The sending site.
    pub site: ResourceName,
    /// The blueprint the record is about; `None` for site-wide records (heartbeats).
    pub blueprint: Option<ResourceName>,
    /// Intent generation the record refers to.
    pub generation: u64,
    /// Sender stream, e.g. `status`, `log`, `heartbeat`.
    pub stream: String,
    /// Position in the sender's `(site, stream)`; always > 0.
    pub sender_sequence: u64,
    /// When the site observed what the record says.
    pub observed_at: Option<Timestamp>,
    /// When the log server received the record (`None` before it is stored).
    pub received_at: Option<Timestamp>,
    /// Intent the record refers to (may be empty).
    pub intent_id: String,
    /// Order the record refers to (may be empty).
    pub order_id: String,
    /// What the record says.
    pub body: Body,
}

/// The payload of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A log line of a process.
    Log(LogLine),
    /// The status of a blueprint.
    Status(BlueprintStatus),
    /// A site's liveness signal.
    Heartbeat(SiteHeartbeat),
}

/// A log line of a process at a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity as the sender spelled it, e.g. `info`.
    pub level: String,
    /// The line.
    pub message: String,
    /// Where the line came from (process id, instance name).
    pub source: String,
}

/// The status of a blueprint as the site sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueprintStatus {
    /// Blueprint kind.
    pub kind: String,
    /// Instances that run and are ready.
    pub ready_instances: u32,
    /// Instances that exist.
    pub total_instances: u32,
    /// The instances run the spec of the record's generation.
    pub converged: bool,
    /// The blueprint was removed and cleaned up.
    pub removed: bool,
    /// The reconciler's status object (JSON).
    pub status_json: String,
    /// Human-readable detail.
    pub message: String,
}

/// A site's liveness signal, with where its Git sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteHeartbeat {
    /// Blueprints the site currently holds.
    pub blueprints: u32,
    /// The commit whose blueprints the site applied (empty before its first sync).
    pub commit: String,
    /// When that sync finished.
    pub synced_at: Option<prost_types::Timestamp>,
    /// Why the latest sync attempt failed (empty when it succeeded).
    pub sync_error: String,
    /// When sync attempts started failing in a row.
    pub failing_since: Option<prost_types::Timestamp>,
    /// Why the site holds disruptive changes (local pause); empty = not paused.
    pub paused: String,
    /// When the pause started.
    pub paused_since: Option<prost_types::Timestamp>,
    /// Memory the site's host has available, in bytes (0 = unknown).
    pub free_memory_bytes: u64,
    /// CPU the site's host has free, in thousandths of a core (0 = unknown).
    pub free_cpu_millis: u64,
}

/// Longest `heartbeat.sync_error`, in bytes (sites cut theirs to fit).
pub const MAX_SYNC_ERROR_BYTES: usize = 2048;

impl Record {
    /// The log level when this is a log record.
    pub fn level(&self) -> Option<&str> {
        match &self.body {
            Body::Log(l) => Some(&l.level),
            _ => None,
        }
    }
}

/// Checks a sender stream name.
fn validate_stream(stream: &str) -> Result<(), FieldError> {
    if stream.is_empty() {
        return Err(FieldError::new("stream", "must not be empty"));
    }
    if stream.chars().count() > MAX_STREAM_CHARS {
        return Err(FieldError::new(
            "stream",
            format!("longer than {MAX_STREAM_CHARS} characters"),
        ));
    }
    if stream.chars().any(char::is_control) {
        return Err(FieldError::new(
            "stream",
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl TryFrom<proto::Record> for Record {
    type Error = FieldError;

    /// Validates a wire record; field paths are relative to the record (`site`, `body`, ...).
    fn try_from(r: proto::Record) -> Result<Self, FieldError> {
        let proto::Record {
            sequence,
            domain,
            site,
            blueprint,
            generation,
            stream,
            sender_sequence,
            observed_at,
            received_at,
            intent_id,
            order_id,
            // Read at push for the span that joins the order's trace; not kept.
            traceparent: _,
            body,
        } = r;
        let site = ResourceName::parse("site", &site)?;
        let blueprint = if blueprint.is_empty() {
            None
        } else {
            Some(ResourceName::parse("blueprint", &blueprint)?)
        };
        validate_stream(&stream)?;
        if sender_sequence == 0 {
            return Err(FieldError::new("sender_sequence", "must be greater than 0"));
        }
        let body = match body.ok_or_else(|| FieldError::new("body", "is required"))? {
            proto::record::Body::Log(l) => Body::Log(l.into()),
            proto::record::Body::Status(s) => Body::Status(s.into()),
            proto::record::Body::Heartbeat(h) => Body::Heartbeat(h.try_into()?),
        };
        Ok(Record {
            sequence,
            domain,
            site,
            blueprint,
            generation,
            stream,
            sender_sequence,
            observed_at,
            received_at,
            intent_id,
            order_id,
            body,
        })
    }
}

impl From<Record> for proto::Record {
    fn from(r: Record) -> Self {
        let Record {
            sequence,
            domain,
            site,
            blueprint,
            generation,
            stream,
            sender_sequence,
            observed_at,
            received_at,
            intent_id,
            order_id,
            body,
        } = r;
        proto::Record {
            sequence,
            domain,
            site: site.as_str().to_string(),
            blueprint: blueprint
                .map(|b| b.as_str().to_string())
                .unwrap_or_default(),
            generation,
            stream,
            sender_sequence,
            observed_at,
            received_at,
            intent_id,
            order_id,
            traceparent: String::new(),
            body: Some(body.into()),
        }
    }
}

impl From<Body> for proto::record::Body {
    fn from(b: Body) -> Self {
        match b {
            Body::Log(l) => proto::record::Body::Log(l.into()),
            Body::Status(s) => proto::record::Body::Status(s.into()),
            Body::Heartbeat(h) => proto::record::Body::Heartbeat(h.into()),
        }
    }
}

impl From<proto::LogLine> for LogLine {
    fn from(l: proto::LogLine) -> Self {
        let proto::LogLine {
            level,
            message,
            source,
        } = l;
        LogLine {
            level,
            message,
            source,
        }
    }
}

impl From<LogLine> for proto::LogLine {
    fn from(l: LogLine) -> Self {
        let LogLine {
            level,
            message,
            source,
        } = l;
        proto::LogLine {
            level,
            message,
            source,
        }
    }
}

impl From<proto::BlueprintStatus> for BlueprintStatus {
    fn from(s: proto::BlueprintStatus) -> Self {
        let proto::BlueprintStatus {
            kind,
            ready_instances,
            total_instances,
            converged,
            removed,
            status_json,
            message,
        } = s;
        BlueprintStatus {
            kind,
            ready_instances,
            total_instances,
            converged,
            removed,
            status_json,
            message,
        }
    }
}

impl From<BlueprintStatus> for proto::BlueprintStatus {
    fn from(s: BlueprintStatus) -> Self {
        let BlueprintStatus {
            kind,
            ready_instances,
            total_instances,
            converged,
            removed,
            status_json,
            message,
        } = s;
        proto::BlueprintStatus {
            kind,
            ready_instances,
            total_instances,
            converged,
            removed,
            status_json,
            message,
        }
    }
}

impl TryFrom<proto::SiteHeartbeat> for SiteHeartbeat {
    type Error = FieldError;

    fn try_from(h: proto::SiteHeartbeat) -> Result<Self, FieldError> {
        let proto::SiteHeartbeat {
            blueprints,
            commit,
            synced_at,
            sync_error,
            failing_since,
            paused,
            paused_since,
            free_memory_bytes,
            free_cpu_millis,
        } = h;
        if paused.len() > MAX_SYNC_ERROR_BYTES || paused.chars().any(char::is_control) {
            return Err(FieldError::new(
                "body.heartbeat.paused",
                format!("must be one line of at most {MAX_SYNC_ERROR_BYTES} bytes"),
            ));
        }
        let is_commit_id = matches!(commit.len(), 40 | 64)
            && commit
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !(commit.is_empty() || is_commit_id) {
            return Err(FieldError::new(
                "body.heartbeat.commit",
                "must be a Git commit id (40 or 64 lowercase hex digits)",
            ));
        }
        if sync_error.len() > MAX_SYNC_ERROR_BYTES {
            return Err(FieldError::new(
                "body.heartbeat.sync_error",
                format!("longer than {MAX_SYNC_ERROR_BYTES} bytes"),
            ));
        }
        Ok(SiteHeartbeat {
            blueprints,
            commit,
            synced_at,
            sync_error,
            failing_since,
            paused,
            paused_since,
            free_memory_bytes,
            free_cpu_millis,
        })
    }
}

impl From<SiteHeartbeat> for proto::SiteHeartbeat {
    fn from(h: SiteHeartbeat) -> Self {
        let SiteHeartbeat {
            blueprints,
            commit,
            synced_at,
            sync_error,
            failing_since,
            paused,
            paused_since,
            free_memory_bytes,
            free_cpu_millis,
        } = h;
        proto::SiteHeartbeat {
            blueprints,
            commit,
            synced_at,
            sync_error,
            failing_since,
            paused,
            paused_since,
            free_memory_bytes,
            free_cpu_millis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> proto::Record {
        proto::Record {
            site: "site-a".into(),
            blueprint: "web".into(),
            stream: "log".into(),
            sender_sequence: 1,
            body: Some(proto::record::Body::Log(proto::LogLine {
                level: "info".into(),
                message: "hi".into(),
                source: "p1".into(),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_through_the_wire_type() {
        let w = wire();
        let r = Record::try_from(w.clone()).unwrap();
        assert_eq!(r.level(), Some("info"));
        assert_eq!(proto::Record::from(r), w);
    }

    #[test]
    fn empty_blueprint_means_site_wide() {
        let r = Record::try_from(proto::Record {
            blueprint: String::new(),
            ..wire()
        })
        .unwrap();
        assert_eq!(r.blueprint, None);
    }

    #[test]
    fn names_the_offending_field() {
        let cases: Vec<(proto::Record, &str)> = vec![
            (
                proto::Record {
                    site: "a/b".into(),
                    ..wire()
                },
                "site",
            ),
            (
                proto::Record {
                    site: String::new(),
                    ..wire()
                },
                "site",
            ),
            (
                proto::Record {
                    blueprint: "../x".into(),
                    ..wire()
                },
                "blueprint",
            ),
            (
                proto::Record {
                    stream: String::new(),
                    ..wire()
                },
                "stream",
            ),
            (
                proto::Record {
                    stream: "s".repeat(MAX_STREAM_CHARS + 1),
                    ..wire()
                },
                "stream",
            ),
            (
                proto::Record {
                    sender_sequence: 0,
                    ..wire()
                },
                "sender_sequence",
            ),
            (
                proto::Record {
                    body: None,
                    ..wire()
                },
                "body",
            ),
        ];
        for (w, field) in cases {
            assert_eq!(Record::try_from(w).unwrap_err().field, field);
        }
    }

    #[test]
    fn accepts_a_stream_of_exactly_the_limit() {
        let r = Record::try_from(proto::Record {
            stream: "é".repeat(MAX_STREAM_CHARS),
            ..wire()
        });
        assert!(r.is_ok());
    }
}
