//! A site's permanent refusal of a blueprint, as its reconciler writes it in the blueprint
//! status: `invalidSpec: {reason, intentGeneration}`. The reason names the field; the intent
//! generation (from the blueprint's annotation) says which spec was refused, so a refusal left
//! in the status of an older spec never fails a newer one. The domain orchestrator reads it from
//! the status the site forwards and makes the intent `INACTIVE` with the reason.

use super::intent_generation;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Status key of the refusal.
pub const STATUS_INVALID_SPEC: &str = "invalidSpec";

/// The refusal of the spec of the blueprint annotated with `annotations`, for its status.
pub fn invalid_spec_status(reason: &str, annotations: &BTreeMap<String, String>) -> Value {
    json!({"reason": reason, "intentGeneration": intent_generation(annotations)})
}

/// The reason a blueprint status gives for refusing the spec of intent generation
/// `generation`, if it refused that one. `status_json` is the status as text; anything
/// unreadable is no refusal.
pub fn refusal_at(status_json: &str, generation: u64) -> Option<String> {
    let status: Value = serde_json::from_str(status_json).ok()?;
    let refusal = status.get(STATUS_INVALID_SPEC)?;
    if refusal.get("intentGeneration").and_then(Value::as_u64) != Some(generation) {
        return None;
    }
    refusal
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ANN_INTENT_GENERATION;

    #[test]
    fn a_refusal_counts_only_for_the_generation_refused() {
        let ann = BTreeMap::from([(ANN_INTENT_GENERATION.to_string(), "3".to_string())]);
        let status = json!({"runningInstances": 0,
            STATUS_INVALID_SPEC: invalid_spec_status("spec.replicas: at most 256", &ann)})
        .to_string();
        assert_eq!(
            refusal_at(&status, 3).as_deref(),
            Some("spec.replicas: at most 256")
        );
        assert_eq!(refusal_at(&status, 4), None);
        assert_eq!(refusal_at(r#"{"runningInstances": 1}"#, 3), None);
        assert_eq!(refusal_at("not json", 3), None);
    }
}
