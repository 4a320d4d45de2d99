//! Counting failed health checks and falling back, per blueprint — pure; the reconcilers keep
//! one [`Count`] per blueprint and turn it into their [`Verdict`] (see
//! [`crate::Reconciler::judge`]).
//!
//! A [`Count`] is about one desired blueprint ([`Key`]: its intent generation and colony
//! generation); any change of the desired blueprint (a new generation, or back to an earlier
//! spec: a rollback) starts a new count. Each convergence adds what it [`Seen`]: a failure (a new
//! instance that did not pass its check in time, or a running instance of the desired spec that
//! fails it) counts one more attempt in a row, a pass starts over. After `fall_back_after`
//! failed attempts, when an instance of an earlier spec still serves, the blueprint has fallen
//! back: the earlier instances keep running and the desired spec is not tried again until the
//! key changes. With no earlier instance to keep (a first install), there is nothing to fall
//! back to: the count keeps growing, and the spec keeps being tried.

use colony::model::Blueprint;
use maestro_common::contract;
use serde_json::Value;

use crate::Verdict;

/// The desired blueprint a count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Its intent generation (`maestro.io/intent-generation`).
    pub intent_generation: u64,
    /// Its colony generation (changes with its spec).
    pub generation: i64,
}

impl Key {
    /// The key of the desired blueprint `bp`.
    pub fn of(bp: &Blueprint) -> Self {
        Self {
            intent_generation: contract::intent_generation(&bp.metadata.annotations),
            generation: bp.metadata.generation,
        }
    }
}

/// What one convergence saw of the health check of instances of the desired spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Checks passed and none failed.
    Passed,
    /// A check failed: the failure.
    Failed(String),
    /// Nothing was checked (no check, no instance of the desired spec, or fallen back).
    Nothing,
}

/// What a convergence saw: `started` is the check of the instances it started (the first
/// failure, else a pass), `probed` the check of the live instances of the desired spec at its
/// end. A failure of either is a failure; the start's message comes first.
pub fn seen(started: Option<Result<(), String>>, probed: Option<Result<(), String>>) -> Seen {
    match (started, probed) {
        (Some(Err(m)), _) | (_, Some(Err(m))) => Seen::Failed(m),
        (Some(Ok(())), _) | (_, Some(Ok(()))) => Seen::Passed,
        (None, None) => Seen::Nothing,
    }
}

/// Where a blueprint stands at its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No failure since the last pass (or nothing checked yet).
    Healthy,
    /// `attempts` failures in a row, the latest `message`.
    Unhealthy {
        /// Failed attempts in a row (>= 1).
        attempts: u32,
        /// The latest failure.
        message: String,
    },
    /// Gave up after `attempts` failures; the earlier instances keep running.
    FellBack {
        /// Failed attempts before it did.
        attempts: u32,
    },
}

/// The count of one blueprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The desired blueprint it is about.
    pub key: Key,
    /// Where it stands.
    pub state: State,
}

/// The failure recorded when a fall-back ends because no earlier instance is left to keep.
const NOTHING_LEFT: &str = "no instance of the earlier spec is left to fall back to";

impl Count {
    /// Nothing counted yet at `key`.
    pub fn fresh(key: Key) -> Self {
        Self {
            key,
            state: State::Healthy,
        }
    }

    /// Whether the blueprint has fallen back from its desired spec.
    pub fn fell_back(&self) -> bool {
        matches!(self.state, State::FellBack { .. })
    }

    /// The count after one more convergence that saw `seen`; `earlier_serving` says whether a
    /// live instance of an earlier spec is left at its end.
    pub fn next(&self, seen: Seen, fall_back_after: u32, earlier_serving: bool) -> Count {
        let (attempts, message) = match &self.state {
            State::FellBack { .. } if earlier_serving => return self.clone(),
            State::FellBack { attempts } => (*attempts, NOTHING_LEFT.to_string()),
            State::Unhealthy { attempts, message } => (*attempts, message.clone()),
            State::Healthy => (0, String::new()),
        };
        let state = match seen {
            Seen::Passed => State::Healthy,
            Seen::Nothing if attempts == 0 => State::Healthy,
            Seen::Nothing => State::Unhealthy { attempts, message },
            Seen::Failed(message) => {
                let attempts = attempts.saturating_add(1);
                if attempts >= fall_back_after && earlier_serving {
                    State::FellBack { attempts }
                } else {
                    State::Unhealthy { attempts, message }
                }
            }
        };
        Count {
            key: self.key,
            state,
        }
    }

    /// Failed attempts in a row (0 when healthy).
    pub fn attempts(&self) -> u32 {
        match self.state {
            State::Healthy => 0,
            State::Unhealthy { attempts, .. } | State::FellBack { attempts } => attempts,
        }
    }

    /// The verdict for the blueprint status.
    pub fn verdict(&self) -> Option<Verdict> {
        match &self.state {
            State::Healthy => None,
            State::Unhealthy { attempts, message } => Some(Verdict::Unhealthy {
                attempts: *attempts,
                message: message.clone(),
            }),
            State::FellBack { attempts } => Some(Verdict::FellBack {
                attempts: *attempts,
            }),
        }
    }

    /// The count a blueprint status written at `key` records (`observedGeneration` and the
    /// verdict's intent generation both match), if any.
    pub fn from_status(status: &Value, key: Key) -> Option<Count> {
        if status.get("observedGeneration").and_then(Value::as_i64) != Some(key.generation) {
            return None;
        }
        let text = status.to_string();
        let state = if let Some(v) = contract::fell_back_at(&text, key.intent_generation) {
            State::FellBack {
                attempts: v.attempts,
            }
        } else {
            let v = contract::unhealthy_at(&text, key.intent_generation)?;
            State::Unhealthy {
                attempts: v.attempts,
                message: v.message,
            }
        };
        Some(Count { key, state })
    }
}

/// The count to go on from at `key`: `current` when it is about `key`; else what the
/// blueprint's last `status` records at `key` (the count of a run of the agent before a
/// restart); else a fresh one.
pub fn resume(current: Option<&Count>, key: Key, status: &Value) -> Count {
    match current {
        Some(c) if c.key == key => c.clone(),
        _ => Count::from_status(status, key).unwrap_or_else(|| Count::fresh(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: Key = Key {
        intent_generation: 2,
        generation: 5,
    };

    fn failed(m: &str) -> Seen {
        Seen::Failed(m.to_string())
    }

    fn unhealthy(attempts: u32, message: &str) -> State {
        State::Unhealthy {
            attempts,
            message: message.to_string(),
        }
    }

    #[test]
    fn what_a_convergence_saw() {
        let err = |m: &str| Some(Err(m.to_string()));
        assert_eq!(seen(None, None), Seen::Nothing);
        assert_eq!(seen(Some(Ok(())), None), Seen::Passed);
        assert_eq!(seen(None, Some(Ok(()))), Seen::Passed);
        assert_eq!(seen(err("start"), Some(Ok(()))), failed("start"));
        assert_eq!(seen(Some(Ok(())), err("probe")), failed("probe"));
        assert_eq!(seen(err("start"), err("probe")), failed("start"));
    }

    #[test]
    fn failures_count_in_a_row_and_a_pass_starts_over() {
        let c = Count::fresh(KEY);
        assert_eq!(c.next(Seen::Nothing, 3, true).state, State::Healthy);
        assert_eq!(c.next(Seen::Passed, 3, true).state, State::Healthy);
        let one = c.next(failed("refused"), 3, true);
        assert_eq!(one.state, unhealthy(1, "refused"));
        assert_eq!(
            one.verdict(),
            Some(Verdict::Unhealthy {
                attempts: 1,
                message: "refused".into()
            })
        );
        // Nothing checked keeps the count and its message.
        assert_eq!(one.next(Seen::Nothing, 3, true), one);
        let two = one.next(failed("timed out"), 3, true);
        assert_eq!(two.state, unhealthy(2, "timed out"));
        assert_eq!(two.attempts(), 2);
        let passed = two.next(Seen::Passed, 3, true);
        assert_eq!(passed.state, State::Healthy);
        assert_eq!(passed.verdict(), None);
        assert_eq!(passed.key, KEY);
    }

    #[test]
    fn it_falls_back_after_the_limit_only_with_an_earlier_instance_serving() {
        let two = Count {
            key: KEY,
            state: unhealthy(2, "refused"),
        };
        let back = two.next(failed("refused"), 3, true);
        assert_eq!(back.state, State::FellBack { attempts: 3 });
        assert!(back.fell_back());
        assert_eq!(back.verdict(), Some(Verdict::FellBack { attempts: 3 }));
        // A first install has nothing to fall back to: the count keeps growing.
        let first = two.next(failed("refused"), 3, false);
        assert_eq!(first.state, unhealthy(3, "refused"));
        assert_eq!(
            first.next(failed("refused"), 3, false).state,
            unhealthy(4, "refused")
        );
        // A limit of 1 falls back at the first failure.
        assert!(
            Count::fresh(KEY)
                .next(failed("refused"), 1, true)
                .fell_back()
        );
    }

    #[test]
    fn a_fall_back_holds_while_an_earlier_instance_serves() {
        let back = Count {
            key: KEY,
            state: State::FellBack { attempts: 3 },
        };
        for seen in [Seen::Passed, failed("refused"), Seen::Nothing] {
            assert_eq!(back.next(seen, 3, true), back);
        }
        // No earlier instance left: nothing to fall back to, the spec is tried again.
        let alone = back.next(Seen::Nothing, 3, false);
        assert_eq!(alone.state, unhealthy(3, NOTHING_LEFT));
        assert_eq!(
            back.next(failed("refused"), 3, false).state,
            unhealthy(4, "refused")
        );
        assert_eq!(back.next(Seen::Passed, 3, false).state, State::Healthy);
    }

    #[test]
    fn a_new_desired_blueprint_starts_a_new_count() {
        let back = Count {
            key: KEY,
            state: State::FellBack { attempts: 3 },
        };
        let none = json!({});
        assert_eq!(resume(Some(&back), KEY, &none), back);
        for other in [
            Key {
                intent_generation: 1,
                generation: 6,
            },
            Key {
                intent_generation: 3,
                generation: 6,
            },
            Key {
                intent_generation: 2,
                generation: 6,
            },
        ] {
            assert_eq!(resume(Some(&back), other, &none), Count::fresh(other));
        }
        assert_eq!(resume(None, KEY, &none), Count::fresh(KEY));
    }

    #[test]
    fn a_restart_goes_on_from_the_status_written_at_the_same_key() {
        let ann = std::collections::BTreeMap::from([(
            contract::ANN_INTENT_GENERATION.to_string(),
            "2".to_string(),
        )]);
        let fell_back = json!({"observedGeneration": 5,
            contract::STATUS_FELL_BACK: contract::fell_back_status(3, &ann)});
        assert_eq!(
            resume(None, KEY, &fell_back).state,
            State::FellBack { attempts: 3 }
        );
        let sick = json!({"observedGeneration": 5,
            contract::STATUS_UNHEALTHY: contract::unhealthy_status(2, "refused", &ann)});
        assert_eq!(resume(None, KEY, &sick).state, unhealthy(2, "refused"));
        // Written at another colony or intent generation: not about this key.
        let newer = Key {
            generation: 6,
            ..KEY
        };
        assert_eq!(resume(None, newer, &fell_back), Count::fresh(newer));
        let other = Key {
            intent_generation: 3,
            ..KEY
        };
        assert_eq!(resume(None, other, &sick), Count::fresh(other));
        assert_eq!(
            resume(None, KEY, &json!({"observedGeneration": 5})),
            Count::fresh(KEY)
        );
        assert_eq!(resume(None, KEY, &json!("garbage")), Count::fresh(KEY));
    }
}
