//! Blueprint definitions as the contract writes them (`definitions/<kind>.json`), in the
//! ColonyOS `BlueprintDefinition` shape, and the built-in ones the domain publishes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GROUP, definition_path};
use crate::json::canonical;

/// `metadata` of a definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionMetadata {
    /// `<plural>.<group>`.
    pub name: String,
}

/// `spec.names`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionNames {
    /// The kind, e.g. `ProcessDeployment`.
    pub kind: String,
    /// `<kind>List`.
    pub list_kind: String,
    /// Lowercase kind.
    pub singular: String,
    /// Lowercase kind + `s`.
    pub plural: String,
}

/// `spec.handler`: who reconciles blueprints of the kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionHandler {
    /// Executor type receiving `reconcile` and `cleanup` processes.
    pub executor_type: String,
    /// Function name of reconcile processes (`reconcile`).
    pub function_name: String,
    /// Seconds between self-healing reconciles.
    pub reconcile_interval: i64,
}

/// `spec` of a definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DefinitionSpec {
    /// API group.
    pub group: String,
    /// API version (`v1`).
    pub version: String,
    /// Names of the kind.
    pub names: DefinitionNames,
    /// `Namespaced`.
    pub scope: String,
    /// Validation schema subset `{type, properties, required}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Handler.
    pub handler: DefinitionHandler,
}

/// A blueprint definition document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DefinitionDocument {
    /// Always `BlueprintDefinition`.
    pub kind: String,
    /// Name.
    pub metadata: DefinitionMetadata,
    /// Spec.
    pub spec: DefinitionSpec,
}

/// Seconds between self-healing reconciles of Maestro's own kinds.
const RECONCILE_INTERVAL_S: i64 = 60;

impl DefinitionDocument {
    /// A namespaced definition of Maestro's `kind`, handled by `executor_type`'s `reconcile`.
    pub fn new(kind: &str, executor_type: &str, schema: Value) -> Self {
        let lower = kind.to_lowercase();
        Self {
            kind: "BlueprintDefinition".to_string(),
            metadata: DefinitionMetadata {
                name: format!("{lower}s.{GROUP}"),
            },
            spec: DefinitionSpec {
                group: GROUP.to_string(),
                version: "v1".to_string(),
                names: DefinitionNames {
                    kind: kind.to_string(),
                    list_kind: format!("{kind}List"),
                    singular: lower.clone(),
                    plural: format!("{lower}s"),
                },
                scope: "Namespaced".to_string(),
                schema: Some(schema),
                handler: DefinitionHandler {
                    executor_type: executor_type.to_string(),
                    function_name: "reconcile".to_string(),
                    reconcile_interval: RECONCILE_INTERVAL_S,
                },
            },
        }
    }

    /// The document as JSON (the ColonyOS wire shape of a definition, without colony).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `ProcessDeployment` definition: native processes converged by the
/// `process-reconciler` executor.
pub fn process_deployment_definition() -> DefinitionDocument {
    DefinitionDocument::new(
        "ProcessDeployment",
        "process-reconciler",
        json!({
            "type": "object",
            "properties": {
                "command": {"type": "string"},
                "args": {"type": "array", "items": {"type": "string"}},
                "env": {"type": "object"},
                "replicas": {"type": "integer"},
                "workingDir": {"type": "string"}
            },
            "required": ["command"]
        }),
    )
}

/// The definitions every domain publishes, as (path, canonical JSON).
pub fn builtin_definitions() -> Vec<(String, String)> {
    [process_deployment_definition()]
        .iter()
        .map(|d| {
            (
                definition_path(&d.spec.names.kind),
                canonical(&d.to_value()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_deployment_definition_has_its_handler_and_path() {
        let d = process_deployment_definition();
        assert_eq!(d.metadata.name, "processdeployments.maestro.io");
        assert_eq!(d.spec.handler.executor_type, "process-reconciler");
        let v = d.to_value();
        assert_eq!(v["spec"]["names"]["listKind"], "ProcessDeploymentList");
        assert_eq!(v["spec"]["handler"]["reconcileInterval"], 60);
        let defs = builtin_definitions();
        assert_eq!(defs[0].0, "definitions/ProcessDeployment.json");
        let back: DefinitionDocument = serde_json::from_str(&defs[0].1).unwrap();
        assert_eq!(back, d);
    }
}
