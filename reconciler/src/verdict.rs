//! A reconciler's judgement of a blueprint's health across convergences (see
//! [`crate::Reconciler::judge`]): the [`Verdict`] the driver writes into the blueprint status
//! under `unhealthy` or `fellBack` (`maestro_common::contract::health`, tied to the blueprint's
//! intent generation), and the lines it logs at warn level.

use std::collections::BTreeMap;

use maestro_common::contract;
use serde_json::Value;

/// A health verdict on the desired spec of a blueprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its instances failed their health check `attempts` times in a row.
    Unhealthy {
        /// Failed attempts in a row (>= 1).
        attempts: u32,
        /// The latest failure.
        message: String,
    },
    /// The site gave up on the desired spec after `attempts` failures in a row and keeps
    /// running the instances of the earlier spec.
    FellBack {
        /// Failed attempts before it did.
        attempts: u32,
    },
}

impl Verdict {
    /// The status key and its value for the blueprint annotated with `annotations`.
    pub fn to_status(&self, annotations: &BTreeMap<String, String>) -> (&'static str, Value) {
        match self {
            Self::Unhealthy { attempts, message } => (
                contract::STATUS_UNHEALTHY,
                contract::unhealthy_status(*attempts, message, annotations),
            ),
            Self::FellBack { attempts } => (
                contract::STATUS_FELL_BACK,
                contract::fell_back_status(*attempts, annotations),
            ),
        }
    }

    /// One sentence for the status message.
    pub fn sentence(&self) -> String {
        match self {
            Self::Unhealthy { attempts, message } => {
                format!(
                    "unhealthy: {attempts} failed health check(s) in a row, the latest: {message}"
                )
            }
            Self::FellBack { attempts } => format!(
                "fell back after {attempts} failed health check(s) in a row: the instances of the \
                 earlier spec keep running and this spec is not tried again until the blueprint changes"
            ),
        }
    }
}

/// What [`crate::Reconciler::judge`] concluded after one convergence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// The verdict for the status; `None` when healthy or not judged.
    pub verdict: Option<Verdict>,
    /// Lines to log at warn level (each once, when something changed).
    pub warnings: Vec<String>,
    /// Sentences for the status message that are no failure (a restart held back).
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_written_with_the_contract_keys() {
        let ann = BTreeMap::from([(contract::ANN_INTENT_GENERATION.to_string(), "7".to_string())]);
        let (key, value) = Verdict::Unhealthy {
            attempts: 2,
            message: "refused".into(),
        }
        .to_status(&ann);
        let status = serde_json::json!({ key: value }).to_string();
        let v = contract::unhealthy_at(&status, 7).unwrap();
        assert_eq!((v.attempts, v.message.as_str()), (2, "refused"));
        let (key, value) = Verdict::FellBack { attempts: 3 }.to_status(&ann);
        let status = serde_json::json!({ key: value }).to_string();
        assert_eq!(contract::fell_back_at(&status, 7).unwrap().attempts, 3);
        assert_eq!(contract::unhealthy_at(&status, 7), None);
    }
}
