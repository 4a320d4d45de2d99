//! `CreateOrderRequest` -> [`NewOrder`]: the structural checks that need no context (sizes,
//! names, uniqueness). Checks against the catalog, the registry and the inventory are in
//! [`crate::resolve`].

use crate::model::{Action, Placement};
use maestro_common::json::{MAX_VALUE_DEPTH, check_value_depth, from_proto_value};
use maestro_common::text::{Lines, MAX_FREE_TEXT_BYTES, MAX_LINE_BYTES, check_text};
use maestro_common::{FieldError, ResourceName};
use maestro_proto::order::v1 as pb;
use serde_json::Value;

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Most items in one order.
pub const MAX_ITEMS: usize = 100;
/// Most characteristics of one item.
pub const MAX_CHARACTERISTICS: usize = 256;
/// Most bytes of characteristics (encoded) in one order, over all its items: half the message
/// limit, so that the order with its progress always fits in a reply.
pub const MAX_CHARACTERISTIC_BYTES: usize = maestro_common::grpc::MAX_MESSAGE_BYTES / 2;
/// Longest cancel reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// A structurally valid order as submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// Client idempotency key.
    pub idempotency_key: String,
    /// Client's id.
    pub external_id: String,
    /// Free text.
    pub description: String,
    /// Free text.
    pub category: String,
    /// Priority.
    pub priority: i32,
    /// Items.
    pub items: Vec<NewItem>,
    /// Who places it: set by the API from the authenticated caller, never from the request.
    pub ordered_by: crate::model::Orderer,
    /// The trace the order joins (a valid W3C traceparent), set by the API; `None`: a new one.
    pub traceparent: Option<String>,
}

/// One submitted item.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// Item id.
    pub id: ResourceName,
    /// Action.
    pub action: Action,
    /// Service instance name.
    pub service_name: ResourceName,
    /// Spec id (empty only for delete).
    pub spec_id: String,
    /// Submitted characteristics (name, value, client value type), in order.
    pub characteristics: Vec<(String, Value, String)>,
    /// Submitted placement (names validated).
    pub placement: Placement,
    /// How the change travels over the target sites (`None`: every site at once).
    pub rollout: Option<crate::rollout::Strategy>,
    /// Restore exactly this earlier state of the service (spec, characteristics, blueprints,
    /// placement) instead of resolving one from the catalog: set by `RollbackOrder` only, never
    /// from a request.
    pub pinned: Option<Box<crate::inventory::InventoryEntry>>,
}

/// Checks a client's idempotency key: 1..=[`MAX_IDEMPOTENCY_KEY`] characters, one line.
pub fn check_idempotency_key(key: &str) -> Result<(), FieldError> {
    let key_len = key.chars().count();
    if key_len == 0 || key_len > MAX_IDEMPOTENCY_KEY {
        return Err(FieldError::new(
            "idempotency_key",
            format!("must be 1..={MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    // The character count above is the limit; 4 bytes per character never refuses more.
    check_text("idempotency_key", key, 4 * MAX_IDEMPOTENCY_KEY, Lines::One)
}

impl TryFrom<pb::CreateOrderRequest> for NewOrder {
    type Error = FieldError;

    fn try_from(r: pb::CreateOrderRequest) -> Result<Self, FieldError> {
        let pb::CreateOrderRequest {
            idempotency_key,
            order,
        } = r;
        check_idempotency_key(&idempotency_key)?;
        let order = order.ok_or_else(|| FieldError::new("order", "required"))?;
        let pb::OrderSpec {
            external_id,
            description,
            category,
            priority,
            items,
        } = order;
        check_text(
            "order.external_id",
            &external_id,
            MAX_LINE_BYTES,
            Lines::One,
        )?;
        check_text("order.category", &category, MAX_LINE_BYTES, Lines::One)?;
        check_text(
            "order.description",
            &description,
            MAX_FREE_TEXT_BYTES,
            Lines::Many,
        )?;
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "order.items",
                format!("must have 1..={MAX_ITEMS} items"),
            ));
        }
        let mut out: Vec<NewItem> = Vec::with_capacity(items.len());
        let mut characteristic_bytes = 0usize;
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("order.items[{i}]");
            characteristic_bytes += item.service.as_ref().map_or(0, |s| {
                s.service_characteristic
                    .iter()
                    .map(prost::Message::encoded_len)
                    .sum()
            });
            if characteristic_bytes > MAX_CHARACTERISTIC_BYTES {
                return Err(FieldError::new(
                    format!("{at}.service.service_characteristic"),
                    format!("the order's characteristics exceed {MAX_CHARACTERISTIC_BYTES} bytes"),
                ));
            }
            let item = NewItem::try_from(item).map_err(|e| e.within(&at))?;
            if out.iter().any(|o| o.id == item.id) {
                return Err(FieldError::new(
                    format!("{at}.id"),
                    format!("duplicate item id '{}'", item.id),
                ));
            }
            if out.iter().any(|o| o.service_name == item.service_name) {
                return Err(FieldError::new(
                    format!("{at}.service.name"),
                    format!(
                        "service '{}' appears in more than one item",
                        item.service_name
                    ),
                ));
            }
            out.push(item);
        }
        Ok(Self {
            idempotency_key,
            external_id,
            description,
            category,
            priority,
            items: out,
            ordered_by: crate::model::Orderer::default(),
            traceparent: None,
        })
    }
}

impl TryFrom<pb::OrderItemSpec> for NewItem {
    type Error = FieldError;

    fn try_from(item: pb::OrderItemSpec) -> Result<Self, FieldError> {
        let pb::OrderItemSpec {
            id,
            action,
            service,
            placement,
            rollout_json,
        } = item;
        let id = ResourceName::parse("id", &id)?;
        let action = match pb::ItemAction::try_from(action) {
            Ok(pb::ItemAction::Add) => Action::Add,
            Ok(pb::ItemAction::Modify) => Action::Modify,
            Ok(pb::ItemAction::Delete) => Action::Delete,
            _ => return Err(FieldError::new("action", "must be add, modify or delete")),
        };
        let rollout = crate::rollout::Strategy::parse("rollout_json", &rollout_json)?;
        if rollout.is_some() && action == Action::Delete {
            return Err(FieldError::new(
                "rollout_json",
                "a deletion is not rolled out (it removes the service from every site at once)",
            ));
        }
        let pb::Service {
            name,
            service_specification,
            service_characteristic,
        } = service.ok_or_else(|| FieldError::new("service", "required"))?;
        let service_name = ResourceName::parse("service.name", &name)?;
        let spec_id = service_specification.map(|s| s.id).unwrap_or_default();
        check_text(
            "service.service_specification.id",
            &spec_id,
            MAX_LINE_BYTES,
            Lines::One,
        )?;
        if spec_id.is_empty() && action != Action::Delete {
            return Err(FieldError::new(
                "service.service_specification.id",
                "required",
            ));
        }
        if service_characteristic.len() > MAX_CHARACTERISTICS {
            return Err(FieldError::new(
                "service.service_characteristic",
                format!("more than {MAX_CHARACTERISTICS} characteristics"),
            ));
        }
        let mut characteristics: Vec<(String, Value, String)> = Vec::new();
        for (j, c) in service_characteristic.into_iter().enumerate() {
            let field = format!("service.service_characteristic[{j}]");
            let pb::Characteristic {
                name,
                value,
                value_type,
            } = c;
            if name.is_empty() {
                return Err(FieldError::new(
                    format!("{field}.name"),
                    "must not be empty",
                ));
            }
            check_text(&format!("{field}.name"), &name, MAX_LINE_BYTES, Lines::One)?;
            check_text(
                &format!("{field}.value_type"),
                &value_type,
                MAX_LINE_BYTES,
                Lines::One,
            )?;
            if characteristics.iter().any(|(n, _, _)| *n == name) {
                return Err(FieldError::new(
                    format!("{field}.name"),
                    format!("duplicate '{name}'"),
                ));
            }
            if let Some(v) = &value {
                check_value_depth(&format!("{field}.value"), v, MAX_VALUE_DEPTH)?;
            }
            let value = value.as_ref().map_or(Value::Null, from_proto_value);
            characteristics.push((name, value, value_type));
        }
        let placement = placement
            .map(convert_placement)
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            id,
            action,
            service_name,
            spec_id,
            characteristics,
            placement,
            rollout,
            pinned: None,
        })
    }
}

/// Most domains, and most sites, one placement names.
pub const MAX_PLACEMENT_NAMES: usize = 1024;
/// Most labels of one domain selector.
pub const MAX_SELECTOR_LABELS: usize = 32;

/// Checks an order id given by a caller (GetOrder, CancelOrder, WatchOrder, StreamOrderLogs):
/// one line of at most [`MAX_LINE_BYTES`], so that an error naming it stays small and inert.
pub fn check_order_id(id: &str) -> Result<(), FieldError> {
    check_text("id", id, MAX_LINE_BYTES, Lines::One)
}

/// Checks a cancel reason: multi-line free text of at most [`MAX_REASON_BYTES`].
pub fn check_cancel_reason(reason: &str) -> Result<(), FieldError> {
    check_text("reason", reason, MAX_REASON_BYTES, Lines::Many)
}

fn convert_placement(p: pb::Placement) -> Result<Placement, FieldError> {
    let pb::Placement {
        domains,
        domain_selector,
        sites,
        count,
        spread_by,
        prefer,
        avoid,
        site_selector,
        site_count,
    } = p;
    let names = |field: &str, list: &[String]| -> Result<(), FieldError> {
        if list.len() > MAX_PLACEMENT_NAMES {
            return Err(FieldError::new(
                format!("placement.{field}"),
                format!("more than {MAX_PLACEMENT_NAMES} names"),
            ));
        }
        for (i, d) in list.iter().enumerate() {
            let f = format!("placement.{field}[{i}]");
            ResourceName::parse(&f, d)?;
            if list[..i].contains(d) {
                return Err(FieldError::new(f, format!("duplicate '{d}'")));
            }
        }
        Ok(())
    };
    names("domains", &domains)?;
    names("sites", &sites)?;
    names("avoid", &avoid)?;
    if count > 0 && domains.is_empty() && domain_selector.is_empty() {
        return Err(FieldError::new(
            "placement.count",
            "choose among domains or a domain_selector",
        ));
    }
    if site_count as usize > MAX_PLACEMENT_NAMES {
        return Err(FieldError::new(
            "placement.site_count",
            format!("at most {MAX_PLACEMENT_NAMES}"),
        ));
    }
    if count as usize > MAX_PLACEMENT_NAMES {
        return Err(FieldError::new(
            "placement.count",
            format!("at most {MAX_PLACEMENT_NAMES}"),
        ));
    }
    check_text(
        "placement.spread_by",
        &spread_by,
        MAX_LINE_BYTES,
        Lines::One,
    )?;
    for (name, labels) in [("prefer", &prefer), ("site_selector", &site_selector)] {
        if labels.len() > MAX_SELECTOR_LABELS {
            return Err(FieldError::new(
                format!("placement.{name}"),
                format!("more than {MAX_SELECTOR_LABELS} labels"),
            ));
        }
        for (key, value) in labels {
            let field = format!("placement.{name}[{key:?}]");
            if key.is_empty() {
                return Err(FieldError::new(field, "label keys must not be empty"));
            }
            check_text(&field, key, MAX_LINE_BYTES, Lines::One)?;
            check_text(&field, value, MAX_LINE_BYTES, Lines::One)?;
        }
    }
    if !domains.is_empty() && !domain_selector.is_empty() {
        return Err(FieldError::new(
            "placement",
            "give either domains or domain_selector, not both",
        ));
    }
    if domain_selector.keys().any(String::is_empty) {
        return Err(FieldError::new(
            "placement.domain_selector",
            "label keys must not be empty",
        ));
    }
    if domain_selector.len() > MAX_SELECTOR_LABELS {
        return Err(FieldError::new(
            "placement.domain_selector",
            format!("more than {MAX_SELECTOR_LABELS} labels"),
        ));
    }
    for (key, value) in &domain_selector {
        let field = format!("placement.domain_selector[{key:?}]");
        check_text(&field, key, MAX_LINE_BYTES, Lines::One)?;
        check_text(&field, value, MAX_LINE_BYTES, Lines::One)?;
    }
    Ok(Placement {
        domains,
        domain_selector: domain_selector.into_iter().collect(),
        sites,
        count,
        spread_by,
        prefer: prefer.into_iter().collect(),
        avoid,
        site_selector: site_selector.into_iter().collect(),
        site_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, name: &str) -> pb::OrderItemSpec {
        pb::OrderItemSpec {
            rollout_json: String::new(),
            id: id.into(),
            action: pb::ItemAction::Add as i32,
            service: Some(pb::Service {
                name: name.into(),
                service_specification: Some(pb::ServiceSpecRef {
                    id: "demo".into(),
                    ..Default::default()
                }),
                service_characteristic: vec![],
            }),
            placement: Some(pb::Placement {
                domains: vec!["north".into()],
                ..Default::default()
            }),
        }
    }

    fn req(key: &str, items: Vec<pb::OrderItemSpec>) -> pb::CreateOrderRequest {
        pb::CreateOrderRequest {
            idempotency_key: key.into(),
            order: Some(pb::OrderSpec {
                items,
                ..Default::default()
            }),
        }
    }

    fn field(r: pb::CreateOrderRequest) -> String {
        NewOrder::try_from(r).unwrap_err().field
    }

    #[test]
    fn accepts_a_plain_order() {
        let o = NewOrder::try_from(req("k", vec![item("1", "web")])).unwrap();
        assert_eq!(o.items[0].service_name.as_str(), "web");
    }

    #[test]
    fn names_the_offending_field() {
        assert_eq!(field(req("", vec![item("1", "web")])), "idempotency_key");
        assert_eq!(
            field(req(&"k".repeat(129), vec![item("1", "web")])),
            "idempotency_key"
        );
        assert_eq!(field(req("k", vec![])), "order.items");
        assert_eq!(
            field(req("k", vec![item("1", "a/b")])),
            "order.items[0].service.name"
        );
        assert_eq!(
            field(req("k", vec![item("1", "..")])),
            "order.items[0].service.name"
        );
        assert_eq!(
            field(req("k", vec![item("1", "a"), item("1", "b")])),
            "order.items[1].id"
        );
        assert_eq!(
            field(req("k", vec![item("1", "a"), item("2", "a")])),
            "order.items[1].service.name"
        );
        let mut bad = item("1", "a");
        bad.action = 0;
        assert_eq!(field(req("k", vec![bad])), "order.items[0].action");
        let mut bad = item("1", "a");
        bad.placement.as_mut().unwrap().sites = vec!["../x".into()];
        assert_eq!(
            field(req("k", vec![bad])),
            "order.items[0].placement.sites[0]"
        );
        let too_many = (0..101)
            .map(|i| item(&i.to_string(), &format!("s{i}")))
            .collect();
        assert_eq!(field(req("k", too_many)), "order.items");
    }

    #[test]
    fn free_text_refuses_control_characters_and_names_the_field() {
        let mut r = req("k", vec![item("1", "web")]);
        r.order.as_mut().unwrap().description = "fine\nlines\tand tabs".into();
        assert!(NewOrder::try_from(r.clone()).is_ok());
        r.order.as_mut().unwrap().description = "\u{1b}[2J\u{1b}]0;owned\u{7}".into();
        let e = NewOrder::try_from(r).unwrap_err();
        assert_eq!(e.field, "order.description");
        assert!(e.reason.contains("U+001B"), "{e}");
        let mut r = req("k", vec![item("1", "web")]);
        r.order.as_mut().unwrap().category = "a\nb".into();
        assert_eq!(field(r), "order.category");
        assert_eq!(
            field(req("k\u{9b}", vec![item("1", "web")])),
            "idempotency_key"
        );
        assert!(check_cancel_reason(&"x".repeat(MAX_REASON_BYTES + 1)).is_err());
        assert_eq!(
            check_cancel_reason("\u{1b}[31m").unwrap_err().field,
            "reason"
        );
    }

    #[test]
    fn an_order_carries_at_most_half_a_message_of_characteristics() {
        let with = |id: &str, name: &str, bytes: usize| {
            let mut it = item(id, name);
            it.service.as_mut().unwrap().service_characteristic = vec![pb::Characteristic {
                name: "payload".into(),
                value: Some(maestro_common::json::to_proto_value(&serde_json::json!(
                    "x".repeat(bytes)
                ))),
                value_type: String::new(),
            }];
            it
        };
        let mib = 1024 * 1024;
        assert!(NewOrder::try_from(req("k", vec![with("1", "a", mib)])).is_ok());
        let e = NewOrder::try_from(req("k", vec![with("1", "a", mib), with("2", "b", mib)]))
            .unwrap_err();
        assert_eq!(e.field, "order.items[1].service.service_characteristic");
        assert!(e.reason.contains("2097152 bytes"), "{e}");
    }

    #[test]
    fn a_characteristic_nested_too_deep_is_refused_with_the_depth() {
        let mut value = maestro_common::json::to_proto_value(&serde_json::json!(1));
        for _ in 0..MAX_VALUE_DEPTH {
            value = prost_types::Value {
                kind: Some(prost_types::value::Kind::ListValue(
                    prost_types::ListValue {
                        values: vec![value],
                    },
                )),
            };
        }
        let mut it = item("1", "web");
        it.service.as_mut().unwrap().service_characteristic = vec![pb::Characteristic {
            name: "deep".into(),
            value: Some(value),
            value_type: String::new(),
        }];
        let e = NewOrder::try_from(req("k", vec![it])).unwrap_err();
        assert_eq!(
            e.field,
            "order.items[0].service.service_characteristic[0].value"
        );
        assert!(e.reason.contains("32 levels"), "{e}");
    }
}
