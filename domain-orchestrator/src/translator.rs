//! The translator: renders an intent's blueprint templates into ColonyOS blueprints per site,
//! and the built-in blueprint definitions. Pure functions, no I/O.

use crate::intent::Intent;
use maestro_common::{FieldError, ResourceName, json::canonical, template};
use serde_json::{Map, Value, json};

/// Label naming the service on every blueprint.
pub const LABEL_SERVICE: &str = "maestro.io/service";
/// Annotation: the intent id.
pub const ANN_INTENT_ID: &str = "maestro.io/intent-id";
/// Annotation: the intent generation (decimal string).
pub const ANN_INTENT_GENERATION: &str = "maestro.io/intent-generation";
/// Annotation: the order id.
pub const ANN_ORDER_ID: &str = "maestro.io/order-id";
/// Annotation: the service name.
pub const ANN_SERVICE: &str = "maestro.io/service";
/// Annotation: the W3C traceparent of the order.
pub const ANN_TRACEPARENT: &str = "maestro.io/traceparent";

/// One blueprint rendered for one site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenderedBlueprint {
    /// Target site.
    pub site: ResourceName,
    /// Blueprint kind.
    pub kind: ResourceName,
    /// `metadata.name`.
    pub name: ResourceName,
    /// Canonical JSON of the blueprint.
    pub content: String,
}

impl RenderedBlueprint {
    /// Path of the blueprint in the domain's Git repository.
    pub fn path(&self) -> String {
        format!("sites/{}/{}/{}.json", self.site, self.kind, self.name)
    }
}

/// Renders every template of `intent` for every site in `sites`. Errors name the template
/// (`blueprint_templates_json[i]...`).
pub fn render_intent(
    intent: &Intent,
    domain: &str,
    sites: &[ResourceName],
) -> Result<Vec<RenderedBlueprint>, FieldError> {
    let mut out = Vec::with_capacity(sites.len() * intent.blueprint_templates.len());
    for site in sites {
        let vars = variables(intent, domain, site);
        for (i, t) in intent.blueprint_templates.iter().enumerate() {
            let field = format!("blueprint_templates_json[{i}]");
            let rendered = template::render(&field, t, &vars)?;
            out.push(finish(&field, rendered, intent, site)?);
        }
    }
    Ok(out)
}

fn variables(intent: &Intent, domain: &str, site: &ResourceName) -> Map<String, Value> {
    let mut vars = intent.characteristics.clone();
    vars.insert(
        "service".into(),
        Value::String(intent.service_name.to_string()),
    );
    vars.insert("domain".into(), Value::String(domain.to_string()));
    vars.insert("site".into(), Value::String(site.to_string()));
    vars.insert("intent".into(), Value::String(intent.id.clone()));
    vars.insert("generation".into(), Value::from(intent.generation));
    vars
}

fn finish(
    field: &str,
    mut doc: Value,
    intent: &Intent,
    site: &ResourceName,
) -> Result<RenderedBlueprint, FieldError> {
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| FieldError::new(field, "must render to a JSON object"))?;
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => ResourceName::parse(&format!("{field}.kind"), k)?,
        _ => return Err(FieldError::new(format!("{field}.kind"), "must be a string")),
    };
    let metadata = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| FieldError::new(format!("{field}.metadata"), "must be an object"))?;
    let name = match metadata.get("name") {
        Some(Value::String(n)) => ResourceName::parse(&format!("{field}.metadata.name"), n)?,
        _ => {
            return Err(FieldError::new(
                format!("{field}.metadata.name"),
                "must be a string",
            ));
        }
    };
    metadata.remove("colonyname");
    metadata.remove("locationname");
    let service = Value::String(intent.service_name.to_string());
    string_map(field, "labels", metadata)?.insert(LABEL_SERVICE.into(), service.clone());
    let ann = string_map(field, "annotations", metadata)?;
    ann.insert(ANN_INTENT_ID.into(), Value::String(intent.id.clone()));
    ann.insert(
        ANN_INTENT_GENERATION.into(),
        Value::String(intent.generation.to_string()),
    );
    ann.insert(ANN_ORDER_ID.into(), Value::String(intent.order_id.clone()));
    ann.insert(ANN_SERVICE.into(), service);
    ann.insert(
        ANN_TRACEPARENT.into(),
        Value::String(intent.traceparent.clone()),
    );
    Ok(RenderedBlueprint {
        site: site.clone(),
        kind,
        name,
        content: canonical(&doc),
    })
}

fn string_map<'a>(
    field: &str,
    key: &str,
    metadata: &'a mut Map<String, Value>,
) -> Result<&'a mut Map<String, Value>, FieldError> {
    metadata
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| FieldError::new(format!("{field}.metadata.{key}"), "must be an object"))
}

/// The built-in `ProcessDeployment` blueprint definition (ColonyOS `BlueprintDefinition` shape).
pub fn process_deployment_definition() -> Value {
    json!({
        "kind": "BlueprintDefinition",
        "metadata": { "name": "ProcessDeployment" },
        "spec": {
            "group": "maestro.io",
            "version": "v1",
            "names": {
                "kind": "ProcessDeployment",
                "listKind": "ProcessDeploymentList",
                "singular": "processdeployment",
                "plural": "processdeployments"
            },
            "scope": "Namespaced",
            "schema": {
                "type": "object",
                "properties": {
                    "command": { "type": "string" },
                    "args": { "type": "array", "items": { "type": "string" } },
                    "env": { "type": "object" },
                    "replicas": { "type": "integer" },
                    "workingDir": { "type": "string" }
                },
                "required": ["command"]
            },
            "handler": {
                "executorType": "process-reconciler",
                "functionName": "reconcile",
                "reconcileInterval": 60
            }
        }
    })
}

/// Every built-in definition as (path, canonical JSON), e.g. `definitions/ProcessDeployment.json`.
pub fn definitions() -> Vec<(String, String)> {
    vec![(
        "definitions/ProcessDeployment.json".into(),
        canonical(&process_deployment_definition()),
    )]
}

#[cfg(test)]
mod tests;
