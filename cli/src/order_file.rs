//! Order files: TMF641-shaped YAML or JSON, parsed strictly, validated, converted to an `OrderSpec`.
//!
//! Accepts OpenSlice spellings (UPPERCASE actions and states) and characteristic values wrapped
//! as `{value: X, alias: ...}`. Unknown fields are rejected with their path.

use maestro_common::FieldError;
use maestro_common::names::validate_name;
use maestro_proto::order::v1 as pb;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// Largest order file accepted.
pub const MAX_ORDER_FILE_BYTES: u64 = 1024 * 1024;

/// Longest idempotency key maestro accepts.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Namespace of idempotency keys derived from file contents.
const FILE_KEY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d61_6573_7472_6f2d_6f72_6465_7266_0001);

/// Why an order file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum OrderFileError {
    /// The file could not be read.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is larger than [`MAX_ORDER_FILE_BYTES`].
    #[error("{path}: file is larger than {max} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        max: u64,
    },
    /// The file did not parse (syntax, unknown field, wrong type).
    #[error("{path}: {field}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// Path of the offending field (`.` for the document).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// A field has an invalid value.
    #[error("{path}: {error}")]
    Invalid {
        /// The file.
        path: String,
        /// The offending field and why.
        error: FieldError,
    },
}

/// A parsed, validated order file, ready to submit.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// The idempotency key: from the file, else a UUID v5 of the file bytes.
    pub idempotency_key: String,
    /// The order to create.
    pub spec: pb::OrderSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OrderDoc {
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    idempotency_key: Option<String>,
    /// Accepted for OpenSlice compatibility (`INITIAL`, `acknowledged`); must be a known state.
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    order_item: Vec<ItemDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ItemDoc {
    id: String,
    action: String,
    #[serde(default)]
    state: Option<String>,
    service: ServiceDoc,
    #[serde(default)]
    placement: Option<PlacementDoc>,
    /// The rollout strategy (docs/rollouts.md), passed on as JSON; maestro checks it.
    #[serde(default)]
    rollout: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceDoc {
    name: String,
    #[serde(default)]
    service_specification: Option<SpecRefDoc>,
    #[serde(default)]
    service_characteristic: Vec<CharacteristicDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecRefDoc {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CharacteristicDoc {
    name: String,
    #[serde(default)]
    value_type: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlacementDoc {
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    domain_selector: BTreeMap<String, String>,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    count: u32,
    #[serde(default)]
    spread_by: String,
    #[serde(default)]
    prefer: BTreeMap<String, String>,
    #[serde(default)]
    avoid: Vec<String>,
    #[serde(default)]
    site_selector: BTreeMap<String, String>,
    #[serde(default)]
    site_count: u32,
}

/// Reads and parses an order file (`-` = stdin), refusing files over [`MAX_ORDER_FILE_BYTES`].
pub fn load(path: &Path) -> Result<OrderRequest, OrderFileError> {
    let name = path.display().to_string();
    let read_err = |e: std::io::Error| OrderFileError::Read {
        path: name.clone(),
        reason: e.to_string(),
    };
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin()
            .take(MAX_ORDER_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
    } else {
        let file = std::fs::File::open(path).map_err(read_err)?;
        if file.metadata().map_err(read_err)?.is_dir() {
            return Err(OrderFileError::Read {
                path: name,
                reason: "is a directory".into(),
            });
        }
        file.take(MAX_ORDER_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
    }
    let json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&name, &bytes, json)
}

/// Parses order file bytes; `json` selects JSON, else YAML. `origin` names the file in errors.
pub fn parse(origin: &str, bytes: &[u8], json: bool) -> Result<OrderRequest, OrderFileError> {
    if bytes.len() as u64 > MAX_ORDER_FILE_BYTES {
        return Err(OrderFileError::TooLarge {
            path: origin.to_string(),
            max: MAX_ORDER_FILE_BYTES,
        });
    }
    let parse_err = |field: String, reason: String| OrderFileError::Parse {
        path: origin.to_string(),
        field: if field.is_empty() { ".".into() } else { field },
        reason,
    };
    let doc: OrderDoc = if json {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let doc = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| parse_err(e.path().to_string(), e.inner().to_string()))?;
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| parse_err(String::new(), e.to_string()))?;
        if let Some(field) = positional_struct(&value) {
            return Err(parse_err(
                field,
                "invalid type: sequence, expected a map (fields are written by name)".into(),
            ));
        }
        doc
    } else {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| parse_err(String::new(), format!("not UTF-8: {e}")))?;
        if text.trim().is_empty() {
            return Err(parse_err(String::new(), "the file is empty".into()));
        }
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| parse_err(e.path().to_string(), e.inner().to_string()))?
    };
    let idempotency_key = doc
        .idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v5(&FILE_KEY_NAMESPACE, bytes).to_string());
    let spec = convert(doc).map_err(|error| OrderFileError::Invalid {
        path: origin.to_string(),
        error,
    })?;
    if idempotency_key.trim().is_empty()
        || idempotency_key.chars().count() > MAX_IDEMPOTENCY_KEY_LEN
    {
        return Err(OrderFileError::Invalid {
            path: origin.to_string(),
            error: FieldError::new(
                "idempotencyKey",
                format!("must be 1..={MAX_IDEMPOTENCY_KEY_LEN} characters"),
            ),
        });
    }
    Ok(OrderRequest {
        idempotency_key,
        spec,
    })
}

fn convert(doc: OrderDoc) -> Result<pb::OrderSpec, FieldError> {
    if let Some(state) = &doc.state {
        check_state("state", state)?;
    }
    if doc.order_item.is_empty() {
        return Err(FieldError::new(
            "orderItem",
            "at least one item is required",
        ));
    }
    let mut ids = BTreeSet::new();
    let mut items = Vec::with_capacity(doc.order_item.len());
    for (i, item) in doc.order_item.into_iter().enumerate() {
        let field = format!("orderItem[{i}]");
        if !ids.insert(item.id.clone()) {
            return Err(FieldError::new(
                format!("{field}.id"),
                format!("duplicate item id {:?}", item.id),
            ));
        }
        items.push(convert_item(item).map_err(|e| e.within(&field))?);
    }
    Ok(pb::OrderSpec {
        external_id: doc.external_id.unwrap_or_default(),
        description: doc.description.unwrap_or_default(),
        category: doc.category.unwrap_or_default(),
        priority: doc.priority.unwrap_or_default(),
        items,
    })
}

fn check_state(field: &str, state: &str) -> Result<(), FieldError> {
    crate::states::parse_order_state(state)
        .map(|_| ())
        .ok_or_else(|| FieldError::new(field, format!("unknown state {state:?}")))
}

fn convert_item(item: ItemDoc) -> Result<pb::OrderItemSpec, FieldError> {
    if item.id.trim().is_empty() {
        return Err(FieldError::new("id", "must not be empty"));
    }
    let action = crate::states::parse_item_action(&item.action).ok_or_else(|| {
        FieldError::new(
            "action",
            format!(
                "unknown action {:?} (use add, modify or delete)",
                item.action
            ),
        )
    })?;
    if let Some(state) = &item.state {
        check_state("state", state)?;
    }
    let service = item.service;
    validate_name("service.name", &service.name)?;
    let spec_ref = service.service_specification.unwrap_or(SpecRefDoc {
        id: String::new(),
        name: String::new(),
        version: String::new(),
    });
    if spec_ref.id.trim().is_empty() && action != pb::ItemAction::Delete {
        return Err(FieldError::new(
            "service.serviceSpecification.id",
            "is required for add and modify",
        ));
    }
    let mut names = BTreeSet::new();
    let mut characteristics = Vec::with_capacity(service.service_characteristic.len());
    for (j, c) in service.service_characteristic.into_iter().enumerate() {
        let field = format!("service.serviceCharacteristic[{j}]");
        if c.name.trim().is_empty() {
            return Err(FieldError::new(
                format!("{field}.name"),
                "must not be empty",
            ));
        }
        if !names.insert(c.name.clone()) {
            return Err(FieldError::new(
                format!("{field}.name"),
                format!("duplicate characteristic {:?}", c.name),
            ));
        }
        characteristics.push(pb::Characteristic {
            value: Some(maestro_common::json::to_proto_value(&unwrap_value(c.value))),
            name: c.name,
            value_type: c.value_type.unwrap_or_default(),
        });
    }
    let placement = item.placement.unwrap_or_default();
    for (k, d) in placement.domains.iter().enumerate() {
        validate_name(&format!("placement.domains[{k}]"), d)?;
    }
    for (k, s) in placement.sites.iter().enumerate() {
        validate_name(&format!("placement.sites[{k}]"), s)?;
    }
    for key in placement.domain_selector.keys() {
        if key.trim().is_empty() {
            return Err(FieldError::new(
                "placement.domainSelector",
                "label keys must not be empty",
            ));
        }
    }
    if action == pb::ItemAction::Add
        && placement.domains.is_empty()
        && placement.domain_selector.is_empty()
    {
        return Err(FieldError::new(
            "placement",
            "add needs placement.domains or placement.domainSelector",
        ));
    }
    let rollout_json = match &item.rollout {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(v @ serde_json::Value::Object(_)) => v.to_string(),
        Some(_) => return Err(FieldError::new("rollout", "must be an object")),
    };
    Ok(pb::OrderItemSpec {
        rollout_json,
        id: item.id,
        action: action as i32,
        service: Some(pb::Service {
            name: service.name,
            service_specification: Some(pb::ServiceSpecRef {
                id: spec_ref.id,
                name: spec_ref.name,
                version: spec_ref.version,
            }),
            service_characteristic: characteristics,
        }),
        placement: Some(pb::Placement {
            domains: placement.domains,
            domain_selector: placement.domain_selector.into_iter().collect(),
            sites: placement.sites,
            count: placement.count,
            spread_by: placement.spread_by,
            prefer: placement.prefer.into_iter().collect(),
            avoid: placement.avoid,
            site_selector: placement.site_selector.into_iter().collect(),
            site_count: placement.site_count,
        }),
    })
}

/// serde reads a JSON array as a struct's fields in order (`"placement": [["north"]]`); an order
/// file writes every object by name, as YAML requires. The path of the first array where an
/// object belongs (`""` for the document).
fn positional_struct(doc: &Value) -> Option<String> {
    let is_array = |v: Option<&Value>| v.is_some_and(Value::is_array);
    if doc.is_array() {
        return Some(String::new());
    }
    let items = doc.get("orderItem").and_then(Value::as_array);
    for (i, item) in items.into_iter().flatten().enumerate() {
        let at = format!("orderItem[{i}]");
        if item.is_array() {
            return Some(at);
        }
        if is_array(item.get("placement")) {
            return Some(format!("{at}.placement"));
        }
        let Some(service) = item.get("service") else {
            continue;
        };
        if service.is_array() {
            return Some(format!("{at}.service"));
        }
        if is_array(service.get("serviceSpecification")) {
            return Some(format!("{at}.service.serviceSpecification"));
        }
        let characteristics = service
            .get("serviceCharacteristic")
            .and_then(Value::as_array);
        for (j, c) in characteristics.into_iter().flatten().enumerate() {
            if c.is_array() {
                return Some(format!("{at}.service.serviceCharacteristic[{j}]"));
            }
        }
    }
    None
}

/// OpenSlice wraps characteristic values as `{value: X, alias: ...}`: unwrap them; plain values pass.
fn unwrap_value(v: Value) -> Value {
    match v {
        Value::Object(mut m)
            if m.contains_key("value") && m.keys().all(|k| k == "value" || k == "alias") =>
        {
            m.remove("value").unwrap_or(Value::Null)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
