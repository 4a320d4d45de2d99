//! What maestro sends to domains (intents, queued in the outbox) and what it hears back
//! (intent statuses), as domain types with conversions at the gRPC edge.

use crate::model::{ServiceState, SiteProgress};
use maestro_common::FieldError;
use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_common::time::millis;
use maestro_proto::intent::v1 as pb;
use serde::{Deserialize, Serialize};

/// The desired state of one service in one domain at one generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentPayload {
    /// `ids::intent_id(service, domain)`.
    pub id: String,
    /// Service generation.
    pub generation: u64,
    /// Service instance name.
    pub service_name: String,
    /// Order that produced this generation.
    pub order_id: String,
    /// Item that produced this generation.
    pub order_item_id: String,
    /// Spec id.
    pub spec_id: String,
    /// Spec version.
    pub spec_version: String,
    /// Sites of the domain; empty = all.
    pub sites: Vec<String>,
    /// JSON object of characteristics.
    pub characteristics_json: String,
    /// Blueprint templates, each a JSON document.
    pub blueprint_templates_json: Vec<String>,
    /// Whether the service is deleted at this generation.
    pub deleted: bool,
    /// W3C traceparent of the order.
    pub traceparent: String,
    /// The organisation that ordered this generation (empty: none).
    #[serde(default)]
    pub organisation: String,
    /// Set while the generation travels over the sites in waves.
    #[serde(default)]
    pub rollout: Option<IntentRollout>,
}

/// The rollout part of an intent: which sites run the generation, and what the others keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRollout {
    /// Increases each time sites move at the same generation.
    pub step: u64,
    /// The target sites that run the generation.
    pub sites: Vec<String>,
    /// What every other target site keeps running (`None`: nothing of the service).
    pub previous: Option<PreviousSpec>,
    /// Failed health checks after which a site falls back by itself.
    pub fall_back_after: u32,
}

/// A service's spec at an earlier generation, as maestro kept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSpec {
    /// The generation.
    pub generation: u64,
    /// The order that produced it.
    pub order_id: String,
    /// Spec id.
    pub spec_id: String,
    /// Spec version.
    pub spec_version: String,
    /// JSON object of characteristics.
    pub characteristics_json: String,
    /// Blueprint templates, each a JSON document.
    pub blueprint_templates_json: Vec<String>,
    /// W3C traceparent of the order that produced it.
    #[serde(default)]
    pub traceparent: String,
}

impl From<&PreviousSpec> for pb::PreviousSpec {
    fn from(p: &PreviousSpec) -> Self {
        Self {
            generation: p.generation,
            order_id: p.order_id.clone(),
            spec_id: p.spec_id.clone(),
            spec_version: p.spec_version.clone(),
            characteristics_json: p.characteristics_json.clone(),
            blueprint_templates_json: p.blueprint_templates_json.clone(),
            traceparent: p.traceparent.clone(),
        }
    }
}

impl From<&IntentRollout> for pb::IntentRollout {
    fn from(r: &IntentRollout) -> Self {
        Self {
            step: r.step,
            sites: r.sites.clone(),
            previous: r.previous.as_ref().map(Into::into),
            fall_back_after: r.fall_back_after,
        }
    }
}

impl From<&IntentPayload> for pb::Intent {
    fn from(i: &IntentPayload) -> Self {
        Self {
            id: i.id.clone(),
            generation: i.generation,
            service_name: i.service_name.clone(),
            order_id: i.order_id.clone(),
            order_item_id: i.order_item_id.clone(),
            spec_id: i.spec_id.clone(),
            spec_version: i.spec_version.clone(),
            sites: i.sites.clone(),
            characteristics_json: i.characteristics_json.clone(),
            blueprint_templates_json: i.blueprint_templates_json.clone(),
            deleted: i.deleted,
            traceparent: i.traceparent.clone(),
            organisation: i.organisation.clone(),
            rollout: i.rollout.as_ref().map(Into::into),
        }
    }
}

/// One pending delivery: the intent of one (order item, domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Order id.
    pub order_id: String,
    /// Item id.
    pub item_id: String,
    /// Target domain.
    pub domain: String,
    /// The full intent.
    pub intent: IntentPayload,
}

impl OutboxEntry {
    /// The rollout step it carries (0 without a rollout).
    pub fn step(&self) -> u64 {
        self.intent.rollout.as_ref().map_or(0, |r| r.step)
    }

    /// The entry's key suffix in the outbox (`<order>/<item>/<domain>`).
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.order_id, self.item_id, self.domain)
    }
}

/// The latest status of an intent, as its domain reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentStatus {
    /// Intent id.
    pub intent_id: String,
    /// Domain that reported it.
    pub domain: String,
    /// The domain's desired generation.
    pub generation: u64,
    /// Generation at which `ready` was observed.
    pub observed_generation: u64,
    /// Service state.
    pub state: ServiceState,
    /// Blueprints ready.
    pub ready: u32,
    /// Blueprints total.
    pub total: u32,
    /// Per-site status.
    pub sites: Vec<SiteProgress>,
    /// Why the intent is in its state, typed (e.g. a reconcile error as `Failed`).
    pub reasons: Vec<StatusReason>,
    /// When the domain produced it, ms since the epoch.
    pub updated_at_ms: i64,
    /// What the domain withheld (`site_detail`, `logs`).
    #[serde(default)]
    pub withheld: Vec<String>,
}

impl TryFrom<pb::IntentStatus> for IntentStatus {
    type Error = FieldError;

    fn try_from(s: pb::IntentStatus) -> Result<Self, FieldError> {
        let pb::IntentStatus {
            intent_id,
            domain,
            generation,
            observed_generation,
            state,
            ready,
            total,
            sites,
            // The text form of `reasons`: never parsed.
            message: _,
            commit: _,
            updated_at,
            reasons,
            withheld,
        } = s;
        if intent_id.is_empty() {
            return Err(FieldError::new("intent_id", "must not be empty"));
        }
        let sites = sites
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let pb::SiteStatus {
                    site,
                    ready,
                    total,
                    observed_generation,
                    message: _,
                    last_heard,
                    unreachable,
                    observed_at,
                    reasons,
                    desired_generation,
                } = s;
                Ok(SiteProgress {
                    site,
                    ready,
                    total,
                    observed_generation,
                    reasons: reasons_from_proto("reasons", reasons)
                        .map_err(|e| e.within(&format!("sites[{i}]")))?,
                    last_heard_ms: millis(last_heard.as_ref()),
                    unreachable,
                    observed_at_ms: millis(observed_at.as_ref()),
                    desired_generation,
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        Ok(Self {
            intent_id,
            domain,
            generation,
            observed_generation,
            state: ServiceState::from_i32(state),
            ready,
            total,
            sites,
            reasons: reasons_from_proto("reasons", reasons)?,
            updated_at_ms: millis(updated_at.as_ref()),
            withheld: check_withheld(withheld)?,
        })
    }
}

/// Most entries of `withheld`, and their longest.
const MAX_WITHHELD: usize = 8;

fn check_withheld(withheld: Vec<String>) -> Result<Vec<String>, FieldError> {
    if withheld.len() > MAX_WITHHELD {
        return Err(FieldError::new(
            "withheld",
            format!("more than {MAX_WITHHELD} entries"),
        ));
    }
    for (i, w) in withheld.iter().enumerate() {
        if w.is_empty() || w.len() > 64 || !w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(FieldError::new(
                format!("withheld[{i}]"),
                "must be a lower-case word",
            ));
        }
    }
    Ok(withheld)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Delivery, DomainProgress};
    use maestro_common::time::timestamp;
    use maestro_proto::order::v1 as opb;

    fn cut_off(site: &str) -> StatusReason {
        StatusReason::Unreachable {
            domain: "north".into(),
            site: Some(site.into()),
            last_heard_ms: Some(1_700_000_000_000),
        }
    }

    fn wire() -> pb::IntentStatus {
        pb::IntentStatus {
            intent_id: "i-1".into(),
            domain: "north".into(),
            generation: 2,
            state: pb::ServiceState::Reserved as i32,
            sites: vec![pb::SiteStatus {
                site: "n2".into(),
                unreachable: true,
                last_heard: Some(timestamp(1_700_000_000_000)),
                message: "ignored text".into(),
                reasons: vec![cut_off("n2").into()],
                ..Default::default()
            }],
            message: "ignored text".into(),
            reasons: vec![
                StatusReason::SitesUnreachable {
                    unreachable: 1,
                    total: 1,
                }
                .into(),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn intent_status_reasons_arrive_typed_and_the_text_is_ignored() {
        let s = IntentStatus::try_from(wire()).unwrap();
        assert_eq!(
            s.reasons,
            vec![StatusReason::SitesUnreachable {
                unreachable: 1,
                total: 1
            }]
        );
        assert_eq!(s.sites[0].reasons, vec![cut_off("n2")]);
        assert_eq!(s.sites[0].last_heard_ms, 1_700_000_000_000);
    }

    #[test]
    fn an_invalid_site_reason_is_rejected_with_its_path() {
        let mut w = wire();
        w.sites[0]
            .reasons
            .push(maestro_proto::status::v1::StatusReason { kind: None });
        assert_eq!(
            IntentStatus::try_from(w),
            Err(FieldError::new(
                "sites[0].reasons[1].kind",
                "missing or unknown"
            ))
        );
    }

    #[test]
    fn domain_progress_goes_out_typed_with_text_without_ages() {
        let s = IntentStatus::try_from(wire()).unwrap();
        let mut dp = DomainProgress {
            domain: "north".into(),
            intent_id: "i-1".into(),
            generation: 2,
            sites: vec![],
            delivery: Delivery::Acknowledged,
            delivery_attempts: 1,
            service_state: s.state,
            observed_generation: 0,
            ready: 0,
            total: 1,
            site_progress: s.sites.clone(),
            message: String::new(),
            reasons: s.reasons.clone(),
            last_heard_ms: 0,
            unreachable: true,
            withheld: Vec::new(),
            leaving: false,
        };
        let out = opb::DomainProgress::from(&dp);
        assert_eq!(out.message, "1 of 1 sites unreachable");
        assert_eq!(
            maestro_common::status::reasons_from_proto("reasons", out.reasons).unwrap(),
            s.reasons
        );
        assert_eq!(out.sites[0].message, "site n2 in north unreachable");
        assert_eq!(out.sites[0].reasons, vec![cut_off("n2").into()]);

        dp.delivery = Delivery::Pending;
        dp.message = "connection refused".into();
        let out = opb::DomainProgress::from(&dp);
        assert_eq!(
            maestro_common::status::reasons_from_proto("reasons", out.reasons).unwrap(),
            vec![StatusReason::AwaitingDelivery {
                domain: "north".into(),
                attempts: 1,
                last_error: "connection refused".into()
            }]
        );
        dp.delivery = Delivery::Rejected;
        let out = opb::DomainProgress::from(&dp);
        assert_eq!(
            out.message,
            "domain north rejected the intent: connection refused"
        );
    }
}
