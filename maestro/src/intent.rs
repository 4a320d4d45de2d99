//! What maestro sends to domains (intents, queued in the outbox) and what it hears back
//! (intent statuses), as domain types with conversions at the gRPC edge.

use crate::model::{ServiceState, SiteProgress};
use maestro_common::FieldError;
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
    /// Message (e.g. a reconcile error).
    pub message: String,
    /// When the domain produced it, ms since the epoch.
    pub updated_at_ms: i64,
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
            message,
            commit: _,
            updated_at,
        } = s;
        if intent_id.is_empty() {
            return Err(FieldError::new("intent_id", "must not be empty"));
        }
        Ok(Self {
            intent_id,
            domain,
            generation,
            observed_generation,
            state: ServiceState::from_i32(state),
            ready,
            total,
            sites: sites
                .into_iter()
                .map(|s| SiteProgress {
                    site: s.site,
                    ready: s.ready,
                    total: s.total,
                    observed_generation: s.observed_generation,
                    message: s.message,
                    last_heard_ms: millis(s.last_heard.as_ref()),
                    unreachable: s.unreachable,
                    observed_at_ms: millis(s.observed_at.as_ref()),
                })
                .collect(),
            message,
            updated_at_ms: millis(updated_at.as_ref()),
        })
    }
}
