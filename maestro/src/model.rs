//! Domain types of orders, items and their per-domain progress (stored as JSON in sled), and
//! their conversion to proto at the gRPC edge.

use maestro_common::status::{StatusReason, reasons_text, reasons_to_proto};
use maestro_common::time::timestamp;
use maestro_proto::order::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// TMF641 order and item states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderState {
    /// Accepted and stored.
    Acknowledged,
    /// Refused.
    Rejected,
    /// Waiting for something (a domain to be reachable or to acknowledge).
    Pending,
    /// Held.
    Held,
    /// Being carried out.
    InProgress,
    /// Cancelled by a client.
    Cancelled,
    /// Done.
    Completed,
    /// Failed.
    Failed,
    /// Some items completed, others failed.
    Partial,
}

impl OrderState {
    /// Whether nothing changes any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Rejected | Self::Cancelled | Self::Completed | Self::Failed | Self::Partial
        )
    }

    /// The proto enum.
    pub fn to_proto(self) -> pb::OrderState {
        match self {
            Self::Acknowledged => pb::OrderState::Acknowledged,
            Self::Rejected => pb::OrderState::Rejected,
            Self::Pending => pb::OrderState::Pending,
            Self::Held => pb::OrderState::Held,
            Self::InProgress => pb::OrderState::InProgress,
            Self::Cancelled => pb::OrderState::Cancelled,
            Self::Completed => pb::OrderState::Completed,
            Self::Failed => pb::OrderState::Failed,
            Self::Partial => pb::OrderState::Partial,
        }
    }

    /// From the proto enum; `None` for unspecified or unknown values.
    pub fn from_proto(v: i32) -> Option<Self> {
        Some(match pb::OrderState::try_from(v).ok()? {
            pb::OrderState::Unspecified => return None,
            pb::OrderState::Acknowledged => Self::Acknowledged,
            pb::OrderState::Rejected => Self::Rejected,
            pb::OrderState::Pending => Self::Pending,
            pb::OrderState::Held => Self::Held,
            pb::OrderState::InProgress => Self::InProgress,
            pb::OrderState::Cancelled => Self::Cancelled,
            pb::OrderState::Completed => Self::Completed,
            pb::OrderState::Failed => Self::Failed,
            pb::OrderState::Partial => Self::Partial,
        })
    }

    /// TMF v4 camelCase name, used in notes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Acknowledged => "acknowledged",
            Self::Rejected => "rejected",
            Self::Pending => "pending",
            Self::Held => "held",
            Self::InProgress => "inProgress",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Partial => "partial",
        }
    }
}

/// What an item does to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Create the service (generation 1).
    Add,
    /// Change it (generation + 1).
    Modify,
    /// Remove it (generation + 1, deleted).
    Delete,
}

impl Action {
    /// The proto enum.
    pub fn to_proto(self) -> pb::ItemAction {
        match self {
            Self::Add => pb::ItemAction::Add,
            Self::Modify => pb::ItemAction::Modify,
            Self::Delete => pb::ItemAction::Delete,
        }
    }
}

/// TMF638 service state of an intent in a domain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceState {
    /// Nothing reported yet.
    #[default]
    Unspecified,
    /// Being set up.
    Reserved,
    /// Running as desired.
    Active,
    /// Failed.
    Inactive,
    /// Removed.
    Terminated,
}

impl ServiceState {
    /// From the (intent or order) proto enum value.
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => Self::Reserved,
            2 => Self::Active,
            3 => Self::Inactive,
            4 => Self::Terminated,
            _ => Self::Unspecified,
        }
    }

    /// The order proto enum.
    pub fn to_proto(self) -> pb::ServiceState {
        match self {
            Self::Unspecified => pb::ServiceState::Unspecified,
            Self::Reserved => pb::ServiceState::Reserved,
            Self::Active => pb::ServiceState::Active,
            Self::Inactive => pb::ServiceState::Inactive,
            Self::Terminated => pb::ServiceState::Terminated,
        }
    }
}

/// How far an item's intent travelled to one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Not acknowledged yet; being retried.
    Pending,
    /// Durable at the domain.
    Acknowledged,
    /// Refused by the domain (permanent).
    Rejected,
}

impl Delivery {
    /// The proto enum.
    pub fn to_proto(self) -> pb::DeliveryState {
        match self {
            Self::Pending => pb::DeliveryState::Pending,
            Self::Acknowledged => pb::DeliveryState::Acknowledged,
            Self::Rejected => pb::DeliveryState::Rejected,
        }
    }
}

/// One audit-trail entry of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Who wrote it.
    pub author: String,
    /// When, in ms since the epoch.
    pub date_ms: i64,
    /// What happened.
    pub text: String,
}

/// A characteristic value of an item, validated against the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CharacteristicValue {
    /// Name.
    pub name: String,
    /// Value (defaults applied, OpenSlice wrapper removed).
    pub value: Value,
    /// Value type from the spec.
    pub value_type: String,
}

/// The service an item acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Service instance name.
    pub name: String,
    /// Spec id.
    pub spec_id: String,
    /// Spec name.
    pub spec_name: String,
    /// Spec version.
    pub spec_version: String,
    /// Characteristics.
    pub characteristics: Vec<CharacteristicValue>,
}

impl ServiceRef {
    /// The characteristics as one JSON object.
    pub fn characteristics_object(&self) -> serde_json::Map<String, Value> {
        self.characteristics
            .iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect()
    }
}

/// Where an item goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Explicit domains.
    pub domains: Vec<String>,
    /// Label selector over registered domains.
    pub domain_selector: BTreeMap<String, String>,
    /// Sites inside the chosen domains; empty = every site.
    pub sites: Vec<String>,
    /// Run in this many of the named or selected domains (0: all of them).
    #[serde(default)]
    pub count: u32,
    /// Label key the chosen domains should differ in.
    #[serde(default)]
    pub spread_by: String,
    /// Labels a domain is preferred for, one point each.
    #[serde(default)]
    pub prefer: BTreeMap<String, String>,
    /// Domains never to choose.
    #[serde(default)]
    pub avoid: Vec<String>,
    /// Only sites whose labels carry all of these.
    #[serde(default)]
    pub site_selector: BTreeMap<String, String>,
    /// Run at this many sites of each chosen domain (0: all), spread over `spread_by`.
    #[serde(default)]
    pub site_count: u32,
}

/// Progress at one site, as the domain reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteProgress {
    /// Site name.
    pub site: String,
    /// Blueprints ready at the desired generation.
    pub ready: u32,
    /// Blueprints rendered for the site.
    pub total: u32,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// Why the site is not ready, typed, as the domain reported it.
    #[serde(default)]
    pub reasons: Vec<StatusReason>,
    /// Last time the site was heard from, ms since the epoch (0 = never).
    pub last_heard_ms: i64,
    /// Not heard from within the domain's threshold: the counts are the last known ones.
    #[serde(default)]
    pub unreachable: bool,
    /// When the site observed the status it last reported, ms since the epoch (0 = unknown).
    #[serde(default)]
    pub observed_at_ms: i64,
    /// The generation the site is to run (during a rollout the previous one for a site not
    /// reached yet or returned; 0 = unknown or nothing).
    #[serde(default)]
    pub desired_generation: u64,
}

/// An item's intent in one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainProgress {
    /// Domain id.
    pub domain: String,
    /// Intent id (`ids::intent_id(service, domain)`).
    pub intent_id: String,
    /// The generation this item asked for.
    pub generation: u64,
    /// Sites of the domain this intent targets (empty = all).
    pub sites: Vec<String>,
    /// Delivery state.
    pub delivery: Delivery,
    /// Delivery attempts so far.
    pub delivery_attempts: u32,
    /// Service state reported at `generation`.
    pub service_state: ServiceState,
    /// Generation `ready` refers to.
    pub observed_generation: u64,
    /// Blueprints ready.
    pub ready: u32,
    /// Blueprints total.
    pub total: u32,
    /// Per-site progress.
    pub site_progress: Vec<SiteProgress>,
    /// The last delivery error (free text of the domain's answer); empty when none.
    pub message: String,
    /// Why the domain is where it is, typed: its own reasons at `generation`, or `Superseded`.
    #[serde(default)]
    pub reasons: Vec<StatusReason>,
    /// Last status time, ms since the epoch (0 = never).
    pub last_heard_ms: i64,
    /// The domain, or one of its sites, is unreachable: what is shown is the last known state.
    #[serde(default)]
    pub unreachable: bool,
    /// What the domain withheld from maestro (`site_detail`, `logs`).
    #[serde(default)]
    pub withheld: Vec<String>,
    /// The service leaves this domain: it is told to remove it; the item does not wait.
    #[serde(default)]
    pub leaving: bool,
}

/// One item of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Id, unique in the order.
    pub id: String,
    /// What it does.
    pub action: Action,
    /// Its state.
    pub state: OrderState,
    /// The service.
    pub service: ServiceRef,
    /// The placement as ordered.
    pub placement: Placement,
    /// Progress per domain.
    pub domains: Vec<DomainProgress>,
    /// Why the item is in its state (`None` when completed or not rolled up yet).
    #[serde(default)]
    pub status_reason: Option<StatusReason>,
    /// Its rollout, when it has one.
    #[serde(default)]
    pub rollout: Option<crate::rollout::ItemRollout>,
    /// What the service was before this item, for `RollbackOrder`.
    #[serde(default)]
    pub before: Before,
}

/// What a service was before an order item changed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Before {
    /// Not known (the item was stored before this was kept): it cannot be rolled back.
    #[default]
    Unknown,
    /// Nothing: the item added the service.
    Nothing,
    /// This inventory entry.
    Was(Box<crate::inventory::InventoryEntry>),
}

/// Who placed an order, as maestro authenticated them (TMF641's related party in the role of
/// orderer); never taken from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orderer {
    /// The caller's identity URI (empty without mutual TLS).
    pub identity: String,
    /// The organisation the operator policy gives the caller (empty: none).
    pub organisation: String,
}

/// A service order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Client idempotency key.
    pub idempotency_key: String,
    /// Client's own id.
    pub external_id: String,
    /// Free text.
    pub description: String,
    /// Free text.
    pub category: String,
    /// Client priority.
    pub priority: i32,
    /// State.
    pub state: OrderState,
    /// Creation time, ms since the epoch.
    pub order_date_ms: i64,
    /// Completion time, when completed.
    pub completion_date_ms: Option<i64>,
    /// Audit trail.
    pub notes: Vec<Note>,
    /// Items.
    pub items: Vec<OrderItem>,
    /// Increases on every change.
    pub revision: u64,
    /// W3C traceparent carried down to the blueprints.
    pub traceparent: String,
    /// Who placed it.
    #[serde(default)]
    pub ordered_by: Orderer,
    /// When a roll-up last changed it (maestro's clock, ms since the epoch; 0 = never): newer
    /// times alone wait until a while after that ([`crate::times_alone`]).
    #[serde(default)]
    pub rolled_at_ms: i64,
}

impl Order {
    /// Appends a note by maestro.
    pub fn note(&mut self, now_ms: i64, text: impl Into<String>) {
        self.notes.push(Note {
            author: "maestro".into(),
            date_ms: now_ms,
            text: text.into(),
        });
    }

    /// Every intent id the order's items address.
    pub fn intent_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.items.iter().flat_map(|i| {
            i.domains
                .iter()
                .map(|d| (d.domain.as_str(), d.intent_id.as_str()))
        })
    }
}

fn ts(ms: i64) -> Option<prost_types::Timestamp> {
    (ms != 0).then(|| timestamp(ms))
}

/// Largest encoded order maestro sends in one reply or watch event: well under the message limit
/// ([`maestro_common::grpc::MAX_MESSAGE_BYTES`]). A larger order (thousands of sites) is sent
/// without its per-site progress, and says so.
pub const MAX_ORDER_REPLY_BYTES: usize = 3 * 1024 * 1024;

impl From<&Order> for pb::ServiceOrder {
    fn from(o: &Order) -> Self {
        let mut order = whole(o);
        if prost::Message::encoded_len(&order) > MAX_ORDER_REPLY_BYTES {
            for i in &mut order.items {
                for d in &mut i.domains {
                    d.sites = Vec::new();
                }
                if let Some(r) = &mut i.rollout {
                    r.sites = Vec::new();
                }
            }
            order.site_detail_omitted = true;
        }
        order
    }
}

/// The order with every detail.
fn whole(o: &Order) -> pb::ServiceOrder {
    pb::ServiceOrder {
        id: o.id.clone(),
        idempotency_key: o.idempotency_key.clone(),
        external_id: o.external_id.clone(),
        description: o.description.clone(),
        category: o.category.clone(),
        priority: o.priority,
        state: o.state.to_proto() as i32,
        order_date: ts(o.order_date_ms),
        completion_date: o.completion_date_ms.and_then(ts),
        note: o
            .notes
            .iter()
            .map(|n| pb::Note {
                author: n.author.clone(),
                date: ts(n.date_ms),
                text: n.text.clone(),
            })
            .collect(),
        items: o.items.iter().map(pb::OrderItem::from).collect(),
        revision: o.revision,
        site_detail_omitted: false,
        ordered_by: o.ordered_by.identity.clone(),
        organisation: o.ordered_by.organisation.clone(),
    }
}

impl From<&OrderItem> for pb::OrderItem {
    fn from(i: &OrderItem) -> Self {
        let s = &i.service;
        Self {
            id: i.id.clone(),
            action: i.action.to_proto() as i32,
            state: i.state.to_proto() as i32,
            service: Some(pb::Service {
                name: s.name.clone(),
                service_specification: Some(pb::ServiceSpecRef {
                    id: s.spec_id.clone(),
                    name: s.spec_name.clone(),
                    version: s.spec_version.clone(),
                }),
                service_characteristic: s
                    .characteristics
                    .iter()
                    .map(|c| pb::Characteristic {
                        name: c.name.clone(),
                        value: Some(maestro_common::json::to_proto_value(&c.value)),
                        value_type: c.value_type.clone(),
                    })
                    .collect(),
            }),
            placement: Some(pb::Placement {
                domains: i.placement.domains.clone(),
                domain_selector: i.placement.domain_selector.clone().into_iter().collect(),
                sites: i.placement.sites.clone(),
                count: i.placement.count,
                spread_by: i.placement.spread_by.clone(),
                prefer: i.placement.prefer.clone().into_iter().collect(),
                avoid: i.placement.avoid.clone(),
                site_selector: i.placement.site_selector.clone().into_iter().collect(),
                site_count: i.placement.site_count,
            }),
            domains: i.domains.iter().map(pb::DomainProgress::from).collect(),
            reason: i
                .status_reason
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            reasons: i.status_reason.iter().map(Into::into).collect(),
            rollout: i.rollout.as_ref().map(Into::into),
        }
    }
}

impl DomainProgress {
    /// Everything known about why the domain is where it is: a delivery that is pending with an
    /// error or rejected, else the domain's own reasons.
    pub fn all_reasons(&self) -> Vec<StatusReason> {
        match self.delivery {
            Delivery::Rejected => vec![StatusReason::Rejected {
                domain: self.domain.clone(),
                reason: self.message.clone(),
            }],
            Delivery::Pending if !self.message.is_empty() => {
                vec![StatusReason::AwaitingDelivery {
                    domain: self.domain.clone(),
                    attempts: self.delivery_attempts,
                    last_error: self.message.clone(),
                }]
            }
            _ => self.reasons.clone(),
        }
    }
}

impl From<&SiteProgress> for pb::SiteProgress {
    fn from(s: &SiteProgress) -> Self {
        Self {
            site: s.site.clone(),
            ready: s.ready,
            total: s.total,
            observed_generation: s.observed_generation,
            message: reasons_text(&s.reasons),
            last_heard: ts(s.last_heard_ms),
            unreachable: s.unreachable,
            observed_at: ts(s.observed_at_ms),
            reasons: reasons_to_proto(&s.reasons),
        }
    }
}

impl From<&DomainProgress> for pb::DomainProgress {
    fn from(d: &DomainProgress) -> Self {
        let reasons = d.all_reasons();
        Self {
            domain: d.domain.clone(),
            intent_id: d.intent_id.clone(),
            generation: d.generation,
            delivery: d.delivery.to_proto() as i32,
            service_state: d.service_state.to_proto() as i32,
            observed_generation: d.observed_generation,
            ready: d.ready,
            total: d.total,
            sites: d.site_progress.iter().map(pb::SiteProgress::from).collect(),
            message: reasons_text(&reasons),
            last_heard: ts(d.last_heard_ms),
            delivery_attempts: d.delivery_attempts,
            unreachable: d.unreachable,
            reasons: reasons_to_proto(&reasons),
            withheld: d.withheld.clone(),
            leaving: d.leaving,
        }
    }
}
