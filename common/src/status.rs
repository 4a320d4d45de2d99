//! Typed status reasons: why an intent, a site, a domain or an order item is in its state.
//! Shared by the domain orchestrator (intent status) and maestro (order progress); the proto
//! form (`maestro.status.v1.StatusReason`) stops at the gRPC edge.
//!
//! Invariants: a reason holds timestamps, never ages, so nothing stored goes stale; its
//! [`Display`](std::fmt::Display) text (for TMF-shaped clients) holds no age and is never parsed.

use crate::FieldError;
use crate::time::{millis, timestamp};
use maestro_proto::status::v1 as pb;
use pb::status_reason::Kind;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why something is in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum StatusReason {
    /// A domain (`site` = `None`) or one of its sites is not heard from within the threshold.
    Unreachable {
        /// The domain.
        domain: String,
        /// The site; `None` when the domain itself is unreachable.
        site: Option<String>,
        /// Last time it was heard from (ms since the epoch); `None` = never.
        last_heard_ms: Option<i64>,
    },
    /// The domain an item addresses is not registered.
    Unregistered {
        /// The domain.
        domain: String,
    },
    /// A transient failure, being retried.
    Retrying {
        /// The domain retrying (empty when the domain reports it about itself).
        domain: String,
        /// What failed.
        error: String,
        /// Attempts failed so far.
        attempt: u32,
        /// When the next attempt is due (ms since the epoch), when known.
        next_attempt_ms: Option<i64>,
    },
    /// The intent is not yet durable at the domain; delivery is being retried.
    AwaitingDelivery {
        /// The domain.
        domain: String,
        /// Delivery attempts so far.
        attempts: u32,
        /// The last delivery error, if any.
        last_error: String,
    },
    /// The domain refused the intent (permanent).
    Rejected {
        /// The domain.
        domain: String,
        /// Why.
        reason: String,
    },
    /// The service failed permanently (the intent is inactive).
    Failed {
        /// The domain (empty when the domain reports it about itself).
        domain: String,
        /// What failed.
        error: String,
    },
    /// Rendered, not yet committed to Git.
    WaitingForCommit,
    /// `waiting` of `total` target sites are not ready at the desired generation.
    WaitingForSites {
        /// Sites not ready.
        waiting: u32,
        /// Target sites.
        total: u32,
    },
    /// `unreachable` of `total` target sites are unreachable.
    SitesUnreachable {
        /// Sites unreachable.
        unreachable: u32,
        /// Target sites.
        total: u32,
    },
    /// A domain is converging.
    Progressing {
        /// The domain.
        domain: String,
        /// Blueprints ready.
        ready: u32,
        /// Blueprints in total.
        total: u32,
        /// The generation asked for.
        generation: u64,
    },
    /// A domain acknowledged the intent but reported no status at `generation` yet.
    WaitingForGeneration {
        /// The domain.
        domain: String,
        /// The generation asked for.
        generation: u64,
    },
    /// A later generation replaced this one.
    Superseded {
        /// The later generation.
        generation: u64,
    },
    /// A blueprint at a site is not ready.
    BlueprintPending {
        /// The blueprint.
        blueprint: String,
        /// Generation of its latest report; `None` = no report yet.
        generation: Option<u64>,
        /// The site's own message of that report (free text, possibly empty).
        message: String,
    },
    /// The domain publishes changes only inside its maintenance windows: this one is stored and
    /// waits for the next (sites keep running what they run).
    MaintenanceWindow {
        /// When the next window opens (ms since the epoch), when known.
        opens_at_ms: Option<i64>,
    },
    /// A blueprint's instances at `generation` fail their health check.
    Unhealthy {
        /// The blueprint.
        blueprint: String,
        /// The generation they run.
        generation: u64,
        /// Failed checks in a row (>= 1).
        attempts: u32,
        /// The latest failure.
        message: String,
    },
    /// The site gave up on `from_generation` of a blueprint after repeated failures and kept
    /// running what it ran before.
    FellBack {
        /// The blueprint.
        blueprint: String,
        /// The generation it left.
        from_generation: u64,
        /// Failed attempts before it did.
        attempts: u32,
    },
    /// The site holds disruptive changes by its own decision (local pause).
    SitePaused {
        /// The site.
        site: String,
        /// Why, as the site's operator said it.
        reason: String,
        /// Since when (ms since the epoch), when known.
        since_ms: Option<i64>,
    },
    /// A site's Git sync is failing; it keeps running the blueprints of `commit`.
    SyncFailing {
        /// The site.
        site: String,
        /// Its latest error.
        error: String,
        /// When its attempts started failing (ms since the epoch), when known.
        since_ms: Option<i64>,
        /// The commit it still runs (empty before its first sync).
        commit: String,
    },
}

fn ts(ms: Option<i64>) -> Option<prost_types::Timestamp> {
    ms.map(timestamp)
}

fn opt_ms(t: Option<&prost_types::Timestamp>) -> Option<i64> {
    t.map(|t| millis(Some(t)))
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

impl From<&StatusReason> for pb::StatusReason {
    fn from(r: &StatusReason) -> Self {
        let kind = match r.clone() {
            StatusReason::Unreachable {
                domain,
                site,
                last_heard_ms,
            } => Kind::Unreachable(pb::Unreachable {
                domain,
                site: site.unwrap_or_default(),
                last_heard: ts(last_heard_ms),
            }),
            StatusReason::Unregistered { domain } => {
                Kind::Unregistered(pb::Unregistered { domain })
            }
            StatusReason::Retrying {
                domain,
                error,
                attempt,
                next_attempt_ms,
            } => Kind::Retrying(pb::Retrying {
                domain,
                error,
                attempt,
                next_attempt_at: ts(next_attempt_ms),
            }),
            StatusReason::AwaitingDelivery {
                domain,
                attempts,
                last_error,
            } => Kind::AwaitingDelivery(pb::AwaitingDelivery {
                domain,
                attempts,
                last_error,
            }),
            StatusReason::Rejected { domain, reason } => {
                Kind::Rejected(pb::Rejected { domain, reason })
            }
            StatusReason::Failed { domain, error } => Kind::Failed(pb::Failed { domain, error }),
            StatusReason::WaitingForCommit => Kind::WaitingForCommit(pb::WaitingForCommit {}),
            StatusReason::WaitingForSites { waiting, total } => {
                Kind::WaitingForSites(pb::WaitingForSites { waiting, total })
            }
            StatusReason::SitesUnreachable { unreachable, total } => {
                Kind::SitesUnreachable(pb::SitesUnreachable { unreachable, total })
            }
            StatusReason::Progressing {
                domain,
                ready,
                total,
                generation,
            } => Kind::Progressing(pb::Progressing {
                domain,
                ready,
                total,
                generation,
            }),
            StatusReason::WaitingForGeneration { domain, generation } => {
                Kind::WaitingForGeneration(pb::WaitingForGeneration { domain, generation })
            }
            StatusReason::Superseded { generation } => {
                Kind::Superseded(pb::Superseded { generation })
            }
            StatusReason::BlueprintPending {
                blueprint,
                generation,
                message,
            } => Kind::BlueprintPending(pb::BlueprintPending {
                blueprint,
                generation: generation.unwrap_or(0),
                message,
            }),
            StatusReason::MaintenanceWindow { opens_at_ms } => {
                Kind::MaintenanceWindow(pb::MaintenanceWindow {
                    opens_at: ts(opens_at_ms),
                })
            }
            StatusReason::Unhealthy {
                blueprint,
                generation,
                attempts,
                message,
            } => Kind::Unhealthy(pb::Unhealthy {
                blueprint,
                generation,
                attempts,
                message,
            }),
            StatusReason::FellBack {
                blueprint,
                from_generation,
                attempts,
            } => Kind::FellBack(pb::FellBack {
                blueprint,
                from_generation,
                attempts,
            }),
            StatusReason::SitePaused {
                site,
                reason,
                since_ms,
            } => Kind::SitePaused(pb::SitePaused {
                site,
                reason,
                since: ts(since_ms),
            }),
            StatusReason::SyncFailing {
                site,
                error,
                since_ms,
                commit,
            } => Kind::SyncFailing(pb::SyncFailing {
                site,
                error,
                since: ts(since_ms),
                commit,
            }),
        };
        pb::StatusReason { kind: Some(kind) }
    }
}

impl From<StatusReason> for pb::StatusReason {
    fn from(r: StatusReason) -> Self {
        Self::from(&r)
    }
}

fn required(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        Err(FieldError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

impl TryFrom<pb::StatusReason> for StatusReason {
    type Error = FieldError;

    /// Rejects a reason without a kind (e.g. one from a newer peer) and kinds missing the
    /// names they are about.
    fn try_from(r: pb::StatusReason) -> Result<Self, FieldError> {
        let pb::StatusReason { kind } = r;
        let kind = kind.ok_or_else(|| FieldError::new("kind", "missing or unknown"))?;
        Ok(match kind {
            Kind::Unreachable(pb::Unreachable {
                domain,
                site,
                last_heard,
            }) => {
                required("unreachable.domain", &domain)?;
                StatusReason::Unreachable {
                    domain,
                    site: non_empty(&Some(site)),
                    last_heard_ms: opt_ms(last_heard.as_ref()),
                }
            }
            Kind::Unregistered(pb::Unregistered { domain }) => {
                required("unregistered.domain", &domain)?;
                StatusReason::Unregistered { domain }
            }
            Kind::Retrying(pb::Retrying {
                domain,
                error,
                attempt,
                next_attempt_at,
            }) => StatusReason::Retrying {
                domain,
                error,
                attempt,
                next_attempt_ms: opt_ms(next_attempt_at.as_ref()),
            },
            Kind::AwaitingDelivery(pb::AwaitingDelivery {
                domain,
                attempts,
                last_error,
            }) => {
                required("awaiting_delivery.domain", &domain)?;
                StatusReason::AwaitingDelivery {
                    domain,
                    attempts,
                    last_error,
                }
            }
            Kind::Rejected(pb::Rejected { domain, reason }) => {
                required("rejected.domain", &domain)?;
                StatusReason::Rejected { domain, reason }
            }
            Kind::Failed(pb::Failed { domain, error }) => StatusReason::Failed { domain, error },
            Kind::WaitingForCommit(pb::WaitingForCommit {}) => StatusReason::WaitingForCommit,
            Kind::WaitingForSites(pb::WaitingForSites { waiting, total }) => {
                StatusReason::WaitingForSites { waiting, total }
            }
            Kind::SitesUnreachable(pb::SitesUnreachable { unreachable, total }) => {
                StatusReason::SitesUnreachable { unreachable, total }
            }
            Kind::Progressing(pb::Progressing {
                domain,
                ready,
                total,
                generation,
            }) => {
                required("progressing.domain", &domain)?;
                StatusReason::Progressing {
                    domain,
                    ready,
                    total,
                    generation,
                }
            }
            Kind::WaitingForGeneration(pb::WaitingForGeneration { domain, generation }) => {
                required("waiting_for_generation.domain", &domain)?;
                StatusReason::WaitingForGeneration { domain, generation }
            }
            Kind::Superseded(pb::Superseded { generation }) => {
                StatusReason::Superseded { generation }
            }
            Kind::BlueprintPending(pb::BlueprintPending {
                blueprint,
                generation,
                message,
            }) => {
                required("blueprint_pending.blueprint", &blueprint)?;
                StatusReason::BlueprintPending {
                    blueprint,
                    generation: (generation != 0).then_some(generation),
                    message,
                }
            }
            Kind::MaintenanceWindow(pb::MaintenanceWindow { opens_at }) => {
                StatusReason::MaintenanceWindow {
                    opens_at_ms: opt_ms(opens_at.as_ref()),
                }
            }
            Kind::Unhealthy(pb::Unhealthy {
                blueprint,
                generation,
                attempts,
                message,
            }) => {
                required("unhealthy.blueprint", &blueprint)?;
                StatusReason::Unhealthy {
                    blueprint,
                    generation,
                    attempts,
                    message,
                }
            }
            Kind::FellBack(pb::FellBack {
                blueprint,
                from_generation,
                attempts,
            }) => {
                required("fell_back.blueprint", &blueprint)?;
                StatusReason::FellBack {
                    blueprint,
                    from_generation,
                    attempts,
                }
            }
            Kind::SitePaused(pb::SitePaused {
                site,
                reason,
                since,
            }) => {
                required("site_paused.site", &site)?;
                StatusReason::SitePaused {
                    site,
                    reason,
                    since_ms: opt_ms(since.as_ref()),
                }
            }
            Kind::SyncFailing(pb::SyncFailing {
                site,
                error,
                since,
                commit,
            }) => {
                required("sync_failing.site", &site)?;
                StatusReason::SyncFailing {
                    site,
                    error,
                    since_ms: opt_ms(since.as_ref()),
                    commit,
                }
            }
        })
    }
}

/// Converts a repeated proto field, naming the index of a rejected element.
pub fn reasons_from_proto(
    field: &str,
    reasons: Vec<pb::StatusReason>,
) -> Result<Vec<StatusReason>, FieldError> {
    reasons
        .into_iter()
        .enumerate()
        .map(|(i, r)| StatusReason::try_from(r).map_err(|e| e.within(&format!("{field}[{i}]"))))
        .collect()
}

/// The proto form of a list of reasons.
pub fn reasons_to_proto(reasons: &[StatusReason]) -> Vec<pb::StatusReason> {
    reasons.iter().map(pb::StatusReason::from).collect()
}

/// The text form of a list of reasons: each [`Display`](fmt::Display) joined by `; `.
pub fn reasons_text(reasons: &[StatusReason]) -> String {
    reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl StatusReason {
    /// The site a reason is about, when it is about one site.
    pub fn unreachable_site(&self) -> Option<&str> {
        match self {
            Self::Unreachable { site, .. } => site.as_deref(),
            _ => None,
        }
    }
}

/// Text without ages, for the `message`/`reason` fields of TMF-shaped clients and for notes.
impl fmt::Display for StatusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable {
                domain, site: None, ..
            } => write!(f, "domain {domain} unreachable"),
            Self::Unreachable {
                domain,
                site: Some(site),
                ..
            } => write!(f, "site {site} in {domain} unreachable"),
            Self::Unregistered { domain } => write!(f, "domain {domain} is not registered"),
            Self::Retrying {
                domain,
                error,
                attempt,
                ..
            } => {
                if !domain.is_empty() {
                    write!(f, "domain {domain}: ")?;
                }
                write!(f, "retrying after: {error} (attempt {attempt})")
            }
            Self::AwaitingDelivery {
                domain,
                attempts,
                last_error,
            } => {
                write!(
                    f,
                    "awaiting delivery to domain {domain} ({attempts} attempts"
                )?;
                if !last_error.is_empty() {
                    write!(f, ": {last_error}")?;
                }
                f.write_str(")")
            }
            Self::Rejected { domain, reason } => {
                write!(f, "domain {domain} rejected the intent: {reason}")
            }
            Self::Failed { domain, error } if domain.is_empty() => f.write_str(error),
            Self::Failed { domain, error } => {
                write!(f, "domain {domain}: service inactive: {error}")
            }
            Self::WaitingForCommit => f.write_str("waiting for the commit"),
            Self::WaitingForSites { waiting, total } => {
                write!(f, "waiting for {waiting} of {total} sites")
            }
            Self::SitesUnreachable { unreachable, total } => {
                write!(f, "{unreachable} of {total} sites unreachable")
            }
            Self::Progressing {
                domain,
                ready,
                total,
                generation,
            } => write!(
                f,
                "domain {domain}: {ready}/{total} ready at generation {generation}"
            ),
            Self::WaitingForGeneration { domain, generation } => {
                write!(f, "domain {domain}: waiting for generation {generation}")
            }
            Self::Superseded { generation } => write!(f, "superseded by generation {generation}"),
            Self::MaintenanceWindow { opens_at_ms: None } => {
                write!(f, "waiting for the domain's maintenance window")
            }
            Self::MaintenanceWindow {
                opens_at_ms: Some(t),
            } => write!(
                f,
                "waiting for the domain's maintenance window (opens {})",
                crate::time::rfc3339(*t)
            ),
            Self::BlueprintPending {
                blueprint,
                generation: None,
                ..
            } => write!(f, "{blueprint}: no status yet"),
            Self::BlueprintPending {
                blueprint,
                generation: Some(g),
                message,
            } if message.is_empty() => write!(f, "{blueprint}: at generation {g}"),
            Self::BlueprintPending {
                blueprint, message, ..
            } => write!(f, "{blueprint}: {message}"),
            Self::Unhealthy {
                blueprint,
                generation,
                attempts,
                message,
            } => {
                write!(
                    f,
                    "{blueprint}: unhealthy at generation {generation} ({attempts} failed checks in a row)"
                )?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Self::FellBack {
                blueprint,
                from_generation,
                attempts,
            } => write!(
                f,
                "{blueprint}: fell back from generation {from_generation} after {attempts} failed attempts"
            ),
            Self::SitePaused { site, reason, .. } if reason.is_empty() => {
                write!(f, "site {site} paused locally")
            }
            Self::SitePaused { site, reason, .. } => {
                write!(f, "site {site} paused locally: {reason}")
            }
            Self::SyncFailing {
                site,
                error,
                commit,
                ..
            } => {
                write!(f, "site {site}: {error}")?;
                if let Some(c) = commit.get(..12) {
                    write!(f, " (still running {c})")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
