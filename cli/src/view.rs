//! CLI-side views of what servers return: TMF camelCase field names, states as TMF strings,
//! times as RFC 3339. JSON and YAML output serialise these, never the proto types.

use crate::output::reason;
use crate::states;
use maestro_common::json::from_proto_value;
use maestro_common::status::StatusReason;
use maestro_common::time::{millis, rfc3339};
use maestro_proto::{catalog::v1 as cat, domain::v1 as dom, intent::v1 as int, order::v1 as ord};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A timestamp as RFC 3339 (`None` when absent).
pub fn time(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.map(|t| rfc3339(millis(Some(t))))
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Typed reasons from a server; empty when one is not understood (the text is shown then).
fn reasons(r: &[maestro_proto::status::v1::StatusReason]) -> Vec<StatusReason> {
    reason::typed(r).unwrap_or_default()
}

/// A service order (TMF641 ServiceOrder).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// Order id.
    pub id: String,
    /// Client idempotency key.
    pub idempotency_key: String,
    /// Client reference.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external_id: String,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Category.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub category: String,
    /// Priority.
    pub priority: i32,
    /// TMF641 state.
    pub state: String,
    /// When the order was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_date: Option<String>,
    /// When the order became final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_date: Option<String>,
    /// Revision, increased on every change.
    pub revision: u64,
    /// Audit trail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<NoteView>,
    /// Items.
    pub order_item: Vec<OrderItemView>,
    /// The per-site progress was left out: the order is too large to send whole.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub site_detail_omitted: bool,
    /// Who placed the order (identity URI), as maestro authenticated them.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ordered_by: String,
    /// Their organisation.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub organisation: String,
}

/// A note of the order's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteView {
    /// Who wrote it.
    pub author: String,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// What.
    pub text: String,
}

/// An order item (TMF641 ServiceOrderItem) with its per-domain progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemView {
    /// Item id.
    pub id: String,
    /// add | modify | delete.
    pub action: String,
    /// TMF641 state.
    pub state: String,
    /// Why the item is in its state, as text (no ages; rendered from `reasons` when typed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why the item is in its state, typed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StatusReason>,
    /// The service acted on.
    pub service: ServiceView,
    /// Where it goes.
    pub placement: PlacementView,
    /// Progress per domain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domain_progress: Vec<DomainProgressView>,
    /// Its rollout, in short (`maestroctl rollout status` shows its sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSummaryView>,
}

/// An item's rollout in short.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSummaryView {
    /// pending, rolling, baking, paused, rolling_back, rolled_back, completed.
    pub phase: String,
    /// The wave rolling, counted from 1, and how many there are.
    pub wave: u32,
    /// How many waves.
    pub waves: u32,
    /// Sites told to move so far.
    pub changed: u32,
    /// Sites that succeeded.
    pub succeeded: u32,
    /// Sites that failed.
    pub failed: u32,
    /// Why it was aborted.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub abort_reason: String,
}

impl RolloutSummaryView {
    /// One line for people.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}, wave {} of {}: {} changed, {} succeeded, {} failed",
            self.phase, self.wave, self.waves, self.changed, self.succeeded, self.failed
        );
        if !self.abort_reason.is_empty() {
            s.push_str(&format!(" (aborted: {})", self.abort_reason));
        }
        s
    }
}

/// The service of an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// Service instance name.
    pub name: String,
    /// Catalog reference.
    pub service_specification: SpecRefView,
    /// Parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_characteristic: Vec<CharacteristicView>,
}

/// A catalog reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecRefView {
    /// Spec id.
    pub id: String,
    /// Spec name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Spec version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// One characteristic (name and value).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CharacteristicView {
    /// Name.
    pub name: String,
    /// Declared value type, when given.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value_type: String,
    /// Value.
    pub value: Value,
}

/// Placement of an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementView {
    /// Explicit domains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// Label selector over domains.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub domain_selector: BTreeMap<String, String>,
    /// Sites inside the domains (empty = all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
}

/// The item's intent in one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainProgressView {
    /// Domain id.
    pub domain: String,
    /// The service leaves this domain (it is told to remove it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
    /// Intent id.
    pub intent_id: String,
    /// Desired generation.
    pub generation: u64,
    /// pending | acknowledged | rejected.
    pub delivery: String,
    /// Delivery attempts so far.
    pub delivery_attempts: u32,
    /// TMF638 service state in the domain.
    pub service_state: String,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// Blueprints ready.
    pub ready: u32,
    /// Blueprints in total.
    pub total: u32,
    /// Why the domain is where it is, as text (no ages).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Why the domain is where it is, typed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StatusReason>,
    /// When the domain last reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heard: Option<String>,
    /// The domain or one of its sites is not heard from: the values are the last known ones.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
    /// Progress per site.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteProgressView>,
    /// What the domain did not disclose to maestro (`site_detail`, `logs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
}

/// The item's progress at one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteProgressView {
    /// Site name.
    pub site: String,
    /// Blueprints ready.
    pub ready: u32,
    /// Blueprints in total.
    pub total: u32,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// Why the site is not ready, as text (no ages).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Why the site is not ready, typed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StatusReason>,
    /// When the site last reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heard: Option<String>,
    /// The site is not heard from: the values are the last known ones.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
    /// When the site observed the status it last reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}

impl From<&ord::ServiceOrder> for OrderView {
    fn from(o: &ord::ServiceOrder) -> Self {
        OrderView {
            id: o.id.clone(),
            idempotency_key: o.idempotency_key.clone(),
            external_id: o.external_id.clone(),
            description: o.description.clone(),
            category: o.category.clone(),
            priority: o.priority,
            state: states::order_state(o.state).to_string(),
            order_date: time(o.order_date.as_ref()),
            completion_date: time(o.completion_date.as_ref()),
            revision: o.revision,
            note: o
                .note
                .iter()
                .map(|n| NoteView {
                    author: n.author.clone(),
                    date: time(n.date.as_ref()),
                    text: n.text.clone(),
                })
                .collect(),
            order_item: o.items.iter().map(OrderItemView::from).collect(),
            site_detail_omitted: o.site_detail_omitted,
            ordered_by: o.ordered_by.clone(),
            organisation: o.organisation.clone(),
        }
    }
}

impl From<&ord::OrderItem> for OrderItemView {
    fn from(i: &ord::OrderItem) -> Self {
        OrderItemView {
            id: i.id.clone(),
            action: states::item_action(i.action).to_string(),
            state: states::order_state(i.state).to_string(),
            reason: i.reason.clone(),
            reasons: reasons(&i.reasons),
            service: service_view(i.service.as_ref()),
            placement: placement_view(i.placement.as_ref()),
            domain_progress: i.domains.iter().map(DomainProgressView::from).collect(),
            rollout: i.rollout.as_ref().map(|r| RolloutSummaryView {
                phase: r.phase.clone(),
                wave: r.wave + 1,
                waves: r.waves,
                changed: r.changed,
                succeeded: r.succeeded,
                failed: r.failed,
                abort_reason: r.abort_reason.clone(),
            }),
        }
    }
}

fn service_view(s: Option<&ord::Service>) -> ServiceView {
    let Some(s) = s else {
        return ServiceView {
            name: String::new(),
            service_specification: SpecRefView {
                id: String::new(),
                name: String::new(),
                version: String::new(),
            },
            service_characteristic: Vec::new(),
        };
    };
    let spec = s.service_specification.clone().unwrap_or_default();
    ServiceView {
        name: s.name.clone(),
        service_specification: SpecRefView {
            id: spec.id,
            name: spec.name,
            version: spec.version,
        },
        service_characteristic: s
            .service_characteristic
            .iter()
            .map(|c| CharacteristicView {
                name: c.name.clone(),
                value_type: c.value_type.clone(),
                value: c.value.as_ref().map_or(Value::Null, from_proto_value),
            })
            .collect(),
    }
}

fn placement_view(p: Option<&ord::Placement>) -> PlacementView {
    let p = p.cloned().unwrap_or_default();
    PlacementView {
        domains: p.domains,
        domain_selector: p.domain_selector.into_iter().collect(),
        sites: p.sites,
    }
}

impl From<&ord::DomainProgress> for DomainProgressView {
    fn from(d: &ord::DomainProgress) -> Self {
        DomainProgressView {
            domain: d.domain.clone(),
            leaving: d.leaving,
            intent_id: d.intent_id.clone(),
            generation: d.generation,
            delivery: states::delivery_state(d.delivery).to_string(),
            delivery_attempts: d.delivery_attempts,
            service_state: states::service_state(d.service_state).to_string(),
            observed_generation: d.observed_generation,
            ready: d.ready,
            total: d.total,
            message: d.message.clone(),
            reasons: reasons(&d.reasons),
            last_heard: time(d.last_heard.as_ref()),
            unreachable: d.unreachable,
            withheld: d.withheld.clone(),
            sites: d
                .sites
                .iter()
                .map(|s| SiteProgressView {
                    site: s.site.clone(),
                    ready: s.ready,
                    total: s.total,
                    observed_generation: s.observed_generation,
                    message: s.message.clone(),
                    reasons: reasons(&s.reasons),
                    last_heard: time(s.last_heard.as_ref()),
                    unreachable: s.unreachable,
                    observed_at: time(s.observed_at.as_ref()),
                })
                .collect(),
        }
    }
}

/// A registered domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainView {
    /// Domain id.
    pub id: String,
    /// ready | unreachable.
    pub state: String,
    /// gRPC endpoint of its orchestrator.
    pub endpoint: String,
    /// Region.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Sites.
    pub sites: Vec<String>,
    /// Last heartbeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<String>,
    /// Seconds since the last heartbeat.
    pub heartbeat_age_seconds: u64,
    /// Whether it publishes its own catalog (else it offers maestro's).
    pub publishes_catalog: bool,
    /// Specifications it offers.
    pub offers: Vec<String>,
    /// What its sites have free, as its last heartbeat said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityView>,
}

/// Free resources of a domain's sites.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityView {
    /// Thousandths of a core.
    pub free_cpu_millis: u64,
    /// Bytes.
    pub free_memory_bytes: u64,
    /// Sites whose report counts.
    pub sites: u32,
}

impl From<&dom::Domain> for DomainView {
    fn from(d: &dom::Domain) -> Self {
        DomainView {
            id: d.id.clone(),
            state: states::domain_state(d.state).to_string(),
            endpoint: d.endpoint.clone(),
            region: d.region.clone(),
            labels: d.labels.clone().into_iter().collect(),
            sites: d.sites.clone(),
            last_heartbeat: time(d.last_heartbeat.as_ref()),
            heartbeat_age_seconds: d.heartbeat_age_seconds,
            publishes_catalog: d.publishes_catalog,
            offers: d.offers.clone(),
            capacity: d.capacity.map(|c| CapacityView {
                free_cpu_millis: c.free_cpu_millis,
                free_memory_bytes: c.free_memory_bytes,
                sites: c.sites,
            }),
        }
    }
}

/// An intent in a domain with its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentView {
    /// Intent id.
    pub id: String,
    /// Service instance name.
    pub service_name: String,
    /// Desired generation.
    pub generation: u64,
    /// Whether the intent is deleted.
    pub deleted: bool,
    /// Order that produced the generation.
    pub order_id: String,
    /// Order item that produced the generation.
    pub order_item_id: String,
    /// Catalog spec id.
    pub spec_id: String,
    /// Sites (empty = all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// Characteristics (JSON).
    pub characteristics: Value,
    /// TMF638 state.
    pub state: String,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// Blueprints ready.
    pub ready: u32,
    /// Blueprints in total.
    pub total: u32,
    /// Status message (no ages).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Why the intent is in its state, typed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StatusReason>,
    /// Git commit holding the generation.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
    /// Last status change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl From<&int::IntentRecord> for IntentView {
    fn from(r: &int::IntentRecord) -> Self {
        let i = r.intent.clone().unwrap_or_default();
        let s = r.status.clone().unwrap_or_default();
        IntentView {
            id: i.id,
            service_name: i.service_name,
            generation: i.generation,
            deleted: i.deleted,
            order_id: i.order_id,
            order_item_id: i.order_item_id,
            spec_id: i.spec_id,
            sites: i.sites,
            characteristics: serde_json::from_str(&i.characteristics_json).unwrap_or(Value::Null),
            state: states::intent_service_state(s.state).to_string(),
            observed_generation: s.observed_generation,
            ready: s.ready,
            total: s.total,
            message: s.message,
            reasons: reasons(&s.reasons),
            commit: s.commit,
            updated_at: time(s.updated_at.as_ref()),
        }
    }
}

/// A catalog service specification (TMF633-shaped).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpecView {
    /// Spec id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Lifecycle status.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lifecycle_status: String,
    /// Characteristics.
    pub service_spec_characteristic: Vec<SpecCharacteristicView>,
    /// Domains that offer it.
    pub offered_by: Vec<String>,
    /// Domains publishing another specification under this id (they do not offer it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicting_domains: Vec<String>,
}

/// A characteristic of a service specification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecCharacteristicView {
    /// Name.
    pub name: String,
    /// Value type.
    pub value_type: String,
    /// Required.
    pub required: bool,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl From<&cat::ServiceSpec> for ServiceSpecView {
    fn from(s: &cat::ServiceSpec) -> Self {
        ServiceSpecView {
            id: s.id.clone(),
            name: s.name.clone(),
            version: s.version.clone(),
            description: s.description.clone(),
            lifecycle_status: s.lifecycle_status.clone(),
            service_spec_characteristic: s
                .characteristics
                .iter()
                .map(|c| SpecCharacteristicView {
                    name: c.name.clone(),
                    value_type: c.value_type.clone(),
                    required: c.required,
                    default: if c.default_json.is_empty() {
                        None
                    } else {
                        serde_json::from_str(&c.default_json).ok()
                    },
                    description: c.description.clone(),
                })
                .collect(),
            offered_by: s.offered_by.clone(),
            conflicting_domains: s.conflicting_domains.clone(),
        }
    }
}

/// A log or status record of an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecordView {
    /// Domain.
    pub domain: String,
    /// Site.
    pub site: String,
    /// Blueprint.
    pub blueprint: String,
    /// Intent generation.
    pub generation: u64,
    /// When the site observed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// Level.
    pub level: String,
    /// Text.
    pub message: String,
    /// Log server sequence.
    #[serde(skip_serializing_if = "is_zero")]
    pub sequence: u64,
}

impl From<&ord::OrderLogRecord> for LogRecordView {
    fn from(r: &ord::OrderLogRecord) -> Self {
        LogRecordView {
            domain: r.domain.clone(),
            site: r.site.clone(),
            blueprint: r.blueprint.clone(),
            generation: r.generation,
            observed_at: time(r.observed_at.as_ref()),
            level: r.level.clone(),
            message: r.message.clone(),
            sequence: r.sequence,
        }
    }
}
