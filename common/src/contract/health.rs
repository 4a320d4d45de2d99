//! A site's health verdict on a blueprint, as its reconciler writes it in the blueprint status,
//! and how many failures make a site fall back. Two keys, each tied to the intent generation it
//! is about (from the blueprint's annotation) so a verdict left over from an older spec never
//! counts against a newer one:
//!
//! - `unhealthy: {intentGeneration, attempts, message}`: the instances of that generation failed
//!   their health check `attempts` times in a row;
//! - `fellBack: {intentGeneration, attempts}`: the site gave up on that generation after
//!   `attempts` failures and keeps running what it ran before.
//!
//! The domain orchestrator reads both from the status the site forwards (as the typed reasons
//! `Unhealthy` and `FellBack`), and maestro's rollouts count them as failures.

use super::{ANN_FALL_BACK_AFTER, intent_generation};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Status key of the unhealthy verdict.
pub const STATUS_UNHEALTHY: &str = "unhealthy";
/// Status key of the fall-back.
pub const STATUS_FELL_BACK: &str = "fellBack";
/// Failed attempts after which a site falls back when the blueprint does not say.
pub const DEFAULT_FALL_BACK_AFTER: u32 = 3;
/// Most failed attempts a blueprint may ask for before falling back.
pub const MAX_FALL_BACK_AFTER: u32 = 100;

/// The unhealthy verdict on the blueprint annotated with `annotations`, for its status.
pub fn unhealthy_status(
    attempts: u32,
    message: &str,
    annotations: &BTreeMap<String, String>,
) -> Value {
    json!({"intentGeneration": intent_generation(annotations), "attempts": attempts, "message": message})
}

/// The fall-back from the blueprint annotated with `annotations`, for its status.
pub fn fell_back_status(attempts: u32, annotations: &BTreeMap<String, String>) -> Value {
    json!({"intentGeneration": intent_generation(annotations), "attempts": attempts})
}

/// Failed attempts after which the site falls back from the blueprint annotated with
/// `annotations` (`maestro.io/fall-back-after`, 1..=[`MAX_FALL_BACK_AFTER`]); the default when
/// absent or unreadable.
pub fn fall_back_after(annotations: &BTreeMap<String, String>) -> u32 {
    annotations
        .get(ANN_FALL_BACK_AFTER)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_FALL_BACK_AFTER).contains(n))
        .unwrap_or(DEFAULT_FALL_BACK_AFTER)
}

/// A health verdict read back from a blueprint status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Failed attempts in a row.
    pub attempts: u32,
    /// The latest failure (empty for a fall-back).
    pub message: String,
}

fn verdict_at(status_json: &str, key: &str, generation: u64) -> Option<Verdict> {
    let status: Value = serde_json::from_str(status_json).ok()?;
    let v = status.get(key)?;
    if v.get("intentGeneration").and_then(Value::as_u64) != Some(generation) {
        return None;
    }
    let attempts = v.get("attempts").and_then(Value::as_u64)?;
    Some(Verdict {
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX).max(1),
        message: v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// The unhealthy verdict a blueprint status gives about intent generation `generation`, if any.
/// Anything unreadable is no verdict.
pub fn unhealthy_at(status_json: &str, generation: u64) -> Option<Verdict> {
    verdict_at(status_json, STATUS_UNHEALTHY, generation)
}

/// The fall-back from intent generation `generation` a blueprint status reports, if any.
pub fn fell_back_at(status_json: &str, generation: u64) -> Option<Verdict> {
    verdict_at(status_json, STATUS_FELL_BACK, generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ANN_INTENT_GENERATION;

    fn ann(generation: &str, after: Option<&str>) -> BTreeMap<String, String> {
        let mut a = BTreeMap::from([(ANN_INTENT_GENERATION.to_string(), generation.to_string())]);
        if let Some(n) = after {
            a.insert(ANN_FALL_BACK_AFTER.to_string(), n.to_string());
        }
        a
    }

    #[test]
    fn verdicts_count_only_for_their_generation() {
        let a = ann("4", None);
        let status = json!({
            STATUS_UNHEALTHY: unhealthy_status(2, "connection refused", &a),
            STATUS_FELL_BACK: fell_back_status(3, &a),
        })
        .to_string();
        let v = unhealthy_at(&status, 4).unwrap();
        assert_eq!((v.attempts, v.message.as_str()), (2, "connection refused"));
        assert_eq!(fell_back_at(&status, 4).unwrap().attempts, 3);
        assert_eq!(unhealthy_at(&status, 5), None);
        assert_eq!(fell_back_at(&status, 3), None);
        assert_eq!(unhealthy_at("not json", 4), None);
        assert_eq!(
            unhealthy_at(r#"{"unhealthy": {"intentGeneration": 4}}"#, 4),
            None
        );
    }

    #[test]
    fn fall_back_after_is_bounded_with_a_default() {
        assert_eq!(fall_back_after(&ann("1", None)), DEFAULT_FALL_BACK_AFTER);
        assert_eq!(fall_back_after(&ann("1", Some("5"))), 5);
        for bad in ["0", "101", "-1", "x"] {
            assert_eq!(
                fall_back_after(&ann("1", Some(bad))),
                DEFAULT_FALL_BACK_AFTER
            );
        }
    }
}
