//! The status record of a blueprint the colony refused to take (HTTP 400: its spec violates the
//! kind's schema, or the site has no definition of its kind). Nothing runs for it, so no
//! reconciler reports; this record tells the domain that the site refused the spec of that
//! intent generation (`maestro_common::contract::refusal`), so the order item fails with the
//! reason instead of waiting forever.

use colony::ColonyError;
use colony::model::Blueprint;
use maestro_common::contract::{STATUS_INVALID_SPEC, invalid_spec_status};
use maestro_proto::logs::v1::{BlueprintStatus, Record, record};

use crate::Error;
use crate::gitsync::files::{self, INTENT_ID, ORDER_ID};

/// The colony's reason when `e` is its permanent refusal of a blueprint (400), else `None`.
pub fn refusal_reason(e: &Error) -> Option<String> {
    match e {
        Error::Colony(ColonyError::Api {
            status: 400,
            message,
        }) => Some(message.clone()),
        _ => None,
    }
}

/// The status record saying that the colony refused `bp` for `reason`.
pub fn refused_record(bp: &Blueprint, reason: &str) -> Record {
    let ann = &bp.metadata.annotations;
    let status = serde_json::json!({
        "runningInstances": 0,
        "totalInstances": 0,
        STATUS_INVALID_SPEC: invalid_spec_status(reason, ann),
    });
    Record {
        blueprint: bp.metadata.name.clone(),
        generation: files::intent_generation(bp),
        stream: "status".to_string(),
        intent_id: ann.get(INTENT_ID).cloned().unwrap_or_default(),
        order_id: ann.get(ORDER_ID).cloned().unwrap_or_default(),
        body: Some(record::Body::Status(BlueprintStatus {
            kind: bp.kind.clone(),
            ready_instances: 0,
            total_instances: 0,
            converged: false,
            removed: false,
            status_json: status.to_string(),
            message: format!("invalid spec: {reason}"),
        })),
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_common::contract::{ANN_INTENT_GENERATION, refusal_at};
    use serde_json::json;

    #[test]
    fn a_colony_refusal_becomes_a_status_the_domain_reads_as_refused() {
        let mut bp = Blueprint::new("ProcessDeployment", "web", "s", json!({"workingDir": 5}));
        bp.metadata
            .annotations
            .insert(ANN_INTENT_GENERATION.into(), "4".into());
        bp.metadata
            .annotations
            .insert(INTENT_ID.into(), "i-1".into());
        let e = Error::Colony(ColonyError::Api {
            status: 400,
            message: "blueprint validation failed: field 'workingDir' must be a string".into(),
        });
        let reason = refusal_reason(&e).unwrap();
        let r = refused_record(&bp, &reason);
        assert_eq!((r.generation, r.intent_id.as_str()), (4, "i-1"));
        let Some(record::Body::Status(s)) = &r.body else {
            panic!("a status record: {r:?}");
        };
        assert_eq!(refusal_at(&s.status_json, 4), Some(reason));
        assert!(!s.converged);
        // Anything but a 400 may pass: it is retried, never reported as a refusal.
        for transient in [
            Error::Colony(ColonyError::Api {
                status: 500,
                message: "db".into(),
            }),
            Error::Colony(ColonyError::Transport("refused".into())),
        ] {
            assert_eq!(refusal_reason(&transient), None);
        }
    }
}
