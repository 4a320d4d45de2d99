//! Health verdicts sites report on blueprints (`maestro_common::contract::health`) as the
//! intent status keeps and shows them.

use super::{MAX_SITE_MESSAGE_BYTES, ObservedBlueprint};
use maestro_common::status::StatusReason;
use maestro_common::text::truncated;

/// A site's health verdict on one blueprint, tied to the intent generation it is about (a
/// verdict about another generation than the one a site is to run is not shown).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthVerdict {
    /// The intent generation the verdict is about.
    pub generation: u64,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// The latest failure (empty for a fall-back), cut to [`MAX_SITE_MESSAGE_BYTES`].
    pub message: String,
}

impl HealthVerdict {
    /// The verdict `v` about `generation`, its message cut.
    pub fn new(generation: u64, v: maestro_common::contract::Verdict) -> Self {
        Self {
            generation,
            attempts: v.attempts,
            message: truncated(&v.message, MAX_SITE_MESSAGE_BYTES),
        }
    }
}

/// The first health verdicts of a site's blueprints at the generation it is to run.
#[derive(Default)]
pub(super) struct SiteHealth {
    pub(super) fell_back: Option<StatusReason>,
    pub(super) unhealthy: Option<StatusReason>,
}

impl SiteHealth {
    /// Notes the verdicts of blueprint `name`, as last `seen`, when they are about `desired`.
    pub(super) fn note(
        &mut self,
        name: &str,
        seen: Option<&ObservedBlueprint>,
        desired: Option<u64>,
    ) {
        let at_desired = |v: &Option<HealthVerdict>| {
            v.as_ref()
                .filter(|v| Some(v.generation) == desired)
                .cloned()
        };
        if self.fell_back.is_none()
            && let Some(v) = seen.and_then(|o| at_desired(&o.fell_back))
        {
            self.fell_back = Some(StatusReason::FellBack {
                blueprint: name.to_string(),
                from_generation: v.generation,
                attempts: v.attempts,
            });
        }
        if self.unhealthy.is_none()
            && let Some(v) = seen.and_then(|o| at_desired(&o.unhealthy))
        {
            self.unhealthy = Some(StatusReason::Unhealthy {
                blueprint: name.to_string(),
                generation: v.generation,
                attempts: v.attempts,
                message: v.message,
            });
        }
    }
}
