//! The intent as the domain sees it: validated at the gRPC edge, stored in sled.

mod rollout;

pub use rollout::{IntentRollout, PreviousSpec};

use maestro_common::{FieldError, ResourceName};
use maestro_proto::intent::v1 as pb;
use serde_json::{Map, Value};

/// Most blueprint templates one intent may carry.
pub const MAX_TEMPLATES: usize = 64;
/// Largest accepted JSON document (one template, or the characteristics).
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// Longest accepted free-text id (order ids, spec ids, traceparent).
pub const MAX_TEXT_LEN: usize = 256;
/// Most sites one intent may name.
pub const MAX_SITES: usize = 1024;
/// Highest accepted generation ([`maestro_common::ids::MAX_GENERATION`]): a raw -1 from a
/// signed client (2^64-1 on the wire) is refused, and a generation maestro plans always fits.
pub use maestro_common::ids::MAX_GENERATION;

/// The desired state of one service in this domain at one generation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Intent {
    /// `ids::intent_id(service_name, domain)`.
    pub id: String,
    /// Increases with every change; ≥ 1.
    pub generation: u64,
    /// The service instance name.
    pub service_name: ResourceName,
    /// Order that produced this generation.
    pub order_id: String,
    /// Order item that produced this generation.
    pub order_item_id: String,
    /// Catalog spec id.
    pub spec_id: String,
    /// Catalog spec version.
    pub spec_version: String,
    /// Target sites; empty = every site of the domain.
    pub sites: Vec<ResourceName>,
    /// Characteristic name -> value.
    pub characteristics: Map<String, Value>,
    /// Blueprint templates (JSON documents with `${var}` placeholders).
    pub blueprint_templates: Vec<Value>,
    /// Whether the service is to be removed.
    pub deleted: bool,
    /// W3C traceparent of the order.
    pub traceparent: String,
    /// The organisation that ordered it, as maestro authenticated it (empty: none).
    #[serde(default)]
    pub organisation: String,
    /// Set while maestro rolls this generation out in waves: only the sites it admits run this
    /// generation, the other target sites keep its previous spec. `None`: every target site runs
    /// it. (Intents stored before rollouts existed have none.)
    #[serde(default)]
    pub rollout: Option<IntentRollout>,
}

/// A delete request: marks the intent deleted at `generation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentDeletion {
    /// The intent.
    pub id: String,
    /// The generation of the deletion.
    pub generation: u64,
    /// Order that asked for the deletion.
    pub order_id: String,
    /// Order item that asked for the deletion.
    pub order_item_id: String,
}

fn text(field: &str, v: String) -> Result<String, FieldError> {
    if v.len() > MAX_TEXT_LEN {
        return Err(FieldError::new(
            field,
            format!("longer than {MAX_TEXT_LEN} bytes"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v)
}

/// Checks that `v`, the field `field`, is a UUID (every intent id is one).
pub fn uuid_id(field: &str, v: &str) -> Result<(), FieldError> {
    uuid::Uuid::parse_str(v)
        .map(|_| ())
        .map_err(|_| FieldError::new(field, "must be a UUID"))
}

/// A generation: 1..=[`MAX_GENERATION`] (0 is "no generation" everywhere in the protocol).
fn generation(field: &str, g: u64) -> Result<u64, FieldError> {
    if !(1..=MAX_GENERATION).contains(&g) {
        return Err(FieldError::new(
            field,
            format!("must be 1..={MAX_GENERATION}, got {g}"),
        ));
    }
    Ok(g)
}

fn json_doc(field: &str, raw: &str) -> Result<Value, FieldError> {
    if raw.len() > MAX_JSON_BYTES {
        return Err(FieldError::new(
            field,
            format!("larger than {MAX_JSON_BYTES} bytes"),
        ));
    }
    serde_json::from_str(raw).map_err(|e| FieldError::new(field, format!("invalid JSON: {e}")))
}

/// Characteristics as JSON text: an object, or nothing (blank).
fn characteristics(field: &str, raw: &str) -> Result<Map<String, Value>, FieldError> {
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match json_doc(field, raw)? {
        Value::Object(m) => Ok(m),
        _ => Err(FieldError::new(field, "must be a JSON object")),
    }
}

/// Blueprint templates as JSON texts: at most [`MAX_TEMPLATES`] objects; errors name the index.
fn templates(field: &str, raw: &[String]) -> Result<Vec<Value>, FieldError> {
    if raw.len() > MAX_TEMPLATES {
        return Err(FieldError::new(
            field,
            format!("more than {MAX_TEMPLATES} templates"),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("{field}[{i}]");
            match json_doc(&field, t)? {
                v @ Value::Object(_) => Ok(v),
                _ => Err(FieldError::new(field, "must be a JSON object")),
            }
        })
        .collect()
}

impl TryFrom<pb::Intent> for Intent {
    type Error = FieldError;

    /// Context-free validation; see [`Intent::check_domain`] for the domain-specific part.
    fn try_from(p: pb::Intent) -> Result<Self, FieldError> {
        let pb::Intent {
            id,
            generation: g,
            service_name,
            order_id,
            order_item_id,
            spec_id,
            spec_version,
            sites,
            characteristics_json,
            blueprint_templates_json,
            deleted,
            traceparent,
            organisation,
            rollout,
        } = p;
        uuid_id("id", &id)?;
        let generation = generation("generation", g)?;
        let service_name = ResourceName::parse("service_name", &service_name)?;
        if sites.len() > MAX_SITES {
            return Err(FieldError::new(
                "sites",
                format!("more than {MAX_SITES} sites"),
            ));
        }
        let sites = sites
            .iter()
            .enumerate()
            .map(|(i, s)| ResourceName::parse(&format!("sites[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        let characteristics = characteristics("characteristics_json", &characteristics_json)?;
        let blueprint_templates = templates("blueprint_templates_json", &blueprint_templates_json)?;
        let rollout = match rollout {
            Some(_) if deleted => {
                return Err(FieldError::new("rollout", "not allowed on a deletion"));
            }
            Some(r) => {
                Some(IntentRollout::parse(r, generation, &sites).map_err(|e| e.within("rollout"))?)
            }
            None => None,
        };
        Ok(Intent {
            id,
            generation,
            service_name,
            order_id: text("order_id", order_id)?,
            order_item_id: text("order_item_id", order_item_id)?,
            spec_id: text("spec_id", spec_id)?,
            spec_version: text("spec_version", spec_version)?,
            sites,
            characteristics,
            blueprint_templates,
            deleted,
            traceparent: text("traceparent", traceparent)?,
            organisation: organisation_name(organisation)?,
            rollout,
        })
    }
}

impl TryFrom<pb::DeleteIntentRequest> for IntentDeletion {
    type Error = FieldError;

    fn try_from(p: pb::DeleteIntentRequest) -> Result<Self, FieldError> {
        let pb::DeleteIntentRequest {
            id,
            generation: g,
            order_id,
            order_item_id,
        } = p;
        uuid_id("id", &id)?;
        Ok(IntentDeletion {
            id,
            generation: generation("generation", g)?,
            order_id: text("order_id", order_id)?,
            order_item_id: text("order_item_id", order_item_id)?,
        })
    }
}

impl Intent {
    /// Checks what depends on the domain: the id must be derived from (service, domain) and
    /// every named site must belong to the domain.
    pub fn check_domain(&self, domain: &str, known_sites: &[String]) -> Result<(), FieldError> {
        let expected = maestro_common::ids::intent_id(self.service_name.as_str(), domain);
        if self.id != expected {
            return Err(FieldError::new(
                "id",
                format!(
                    "must be {expected}, the intent id of service '{}' in domain '{domain}'",
                    self.service_name
                ),
            ));
        }
        for (i, s) in self.sites.iter().enumerate() {
            if !known_sites.iter().any(|k| k == s.as_str()) {
                return Err(FieldError::new(
                    format!("sites[{i}]"),
                    format!("unknown site '{s}' in domain '{domain}'"),
                ));
            }
        }
        Ok(())
    }

    /// The sites this intent targets, given the sites of the domain.
    pub fn target_sites(&self, domain_sites: &[String]) -> Vec<ResourceName> {
        if self.sites.is_empty() {
            domain_sites
                .iter()
                .filter_map(|s| ResourceName::parse("site", s).ok())
                .collect()
        } else {
            self.sites.clone()
        }
    }
}

impl From<&Intent> for pb::Intent {
    fn from(i: &Intent) -> Self {
        pb::Intent {
            id: i.id.clone(),
            generation: i.generation,
            service_name: i.service_name.to_string(),
            order_id: i.order_id.clone(),
            order_item_id: i.order_item_id.clone(),
            spec_id: i.spec_id.clone(),
            spec_version: i.spec_version.clone(),
            sites: i.sites.iter().map(ToString::to_string).collect(),
            characteristics_json: Value::Object(i.characteristics.clone()).to_string(),
            blueprint_templates_json: i
                .blueprint_templates
                .iter()
                .map(ToString::to_string)
                .collect(),
            deleted: i.deleted,
            traceparent: i.traceparent.clone(),
            rollout: i.rollout.as_ref().map(pb::IntentRollout::from),
            organisation: i.organisation.clone(),
        }
    }
}

/// An organisation as an intent carries it: empty, or a valid name.
fn organisation_name(v: String) -> Result<String, FieldError> {
    if !v.is_empty() {
        ResourceName::parse("organisation", &v)?;
    }
    Ok(v)
}

/// An intent for tests of other modules.
#[cfg(test)]
pub(crate) fn sample(service: &str) -> Intent {
    Intent {
        id: maestro_common::ids::intent_id(service, "north"),
        generation: 1,
        service_name: ResourceName::parse("service", service).expect("a valid name"),
        order_id: "o-1".into(),
        order_item_id: "1".into(),
        spec_id: "demo".into(),
        spec_version: "1.0".into(),
        sites: Vec::new(),
        characteristics: Map::new(),
        blueprint_templates: Vec::new(),
        deleted: false,
        traceparent: String::new(),
        organisation: String::new(),
        rollout: None,
    }
}

#[cfg(test)]
mod tests;
