//! `CreateOrderRequest` -> [`NewOrder`]: the structural checks that need no context (sizes,
//! names, uniqueness). Checks against the catalog, the registry and the inventory are in
//! [`crate::resolve`].

use crate::model::{Action, Placement};
use maestro_common::json::from_proto_value;
use maestro_common::{FieldError, ResourceName};
use maestro_proto::order::v1 as pb;
use serde_json::Value;

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Most items in one order.
pub const MAX_ITEMS: usize = 100;
const MAX_TEXT: usize = 4096;

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
}

impl TryFrom<pb::CreateOrderRequest> for NewOrder {
    type Error = FieldError;

    fn try_from(r: pb::CreateOrderRequest) -> Result<Self, FieldError> {
        let pb::CreateOrderRequest {
            idempotency_key,
            order,
        } = r;
        let key_len = idempotency_key.chars().count();
        if key_len == 0 || key_len > MAX_IDEMPOTENCY_KEY {
            return Err(FieldError::new(
                "idempotency_key",
                format!("must be 1..={MAX_IDEMPOTENCY_KEY} characters"),
            ));
        }
        if idempotency_key.chars().any(char::is_control) {
            return Err(FieldError::new(
                "idempotency_key",
                "must not contain control characters",
            ));
        }
        let order = order.ok_or_else(|| FieldError::new("order", "required"))?;
        let pb::OrderSpec {
            external_id,
            description,
            category,
            priority,
            items,
        } = order;
        for (field, v) in [
            ("external_id", &external_id),
            ("description", &description),
            ("category", &category),
        ] {
            if v.len() > MAX_TEXT {
                return Err(FieldError::new(
                    format!("order.{field}"),
                    format!("longer than {MAX_TEXT} bytes"),
                ));
            }
        }
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "order.items",
                format!("must have 1..={MAX_ITEMS} items"),
            ));
        }
        let mut out: Vec<NewItem> = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("order.items[{i}]");
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
        } = item;
        let id = ResourceName::parse("id", &id)?;
        let action = match pb::ItemAction::try_from(action) {
            Ok(pb::ItemAction::Add) => Action::Add,
            Ok(pb::ItemAction::Modify) => Action::Modify,
            Ok(pb::ItemAction::Delete) => Action::Delete,
            _ => return Err(FieldError::new("action", "must be add, modify or delete")),
        };
        let pb::Service {
            name,
            service_specification,
            service_characteristic,
        } = service.ok_or_else(|| FieldError::new("service", "required"))?;
        let service_name = ResourceName::parse("service.name", &name)?;
        let spec_id = service_specification.map(|s| s.id).unwrap_or_default();
        if spec_id.is_empty() && action != Action::Delete {
            return Err(FieldError::new(
                "service.service_specification.id",
                "required",
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
            if characteristics.iter().any(|(n, _, _)| *n == name) {
                return Err(FieldError::new(
                    format!("{field}.name"),
                    format!("duplicate '{name}'"),
                ));
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
        })
    }
}

fn convert_placement(p: pb::Placement) -> Result<Placement, FieldError> {
    let pb::Placement {
        domains,
        domain_selector,
        sites,
    } = p;
    let names = |field: &str, list: &[String]| -> Result<(), FieldError> {
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
    Ok(Placement {
        domains,
        domain_selector: domain_selector.into_iter().collect(),
        sites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, name: &str) -> pb::OrderItemSpec {
        pb::OrderItemSpec {
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
}
