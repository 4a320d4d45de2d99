//! Blueprints (declarative desired state), their definitions (schema + handler) and history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::nullable::nullable;

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_empty_or_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Metadata shared by blueprints and blueprint definitions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BlueprintMetadata {
    /// Name, unique in the colony.
    #[serde(default)]
    pub name: String,
    /// Colony ("namespace") the object lives in.
    #[serde(rename = "colonyname", default)]
    pub colony_name: String,
    /// Location whose executors reconcile it; empty for any.
    #[serde(
        rename = "locationname",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub location_name: String,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Generation: as sent on add (0 by default), +1 on every spec change or forced update.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: i64,
    /// When it was added.
    #[serde(rename = "createdAt", default, serialize_with = "time_or_zero")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it was last changed.
    #[serde(rename = "updatedAt", default, serialize_with = "time_or_zero")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Id of the last reconcile process.
    #[serde(
        rename = "lastReconciliationProcess",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub last_reconciliation_process: String,
    /// When the last reconcile process was submitted.
    #[serde(
        rename = "lastReconciliationTime",
        default,
        serialize_with = "time_or_zero"
    )]
    pub last_reconciliation_time: Option<DateTime<Utc>>,
}

/// Go's `time.Time` is always on the wire: an unset time is the zero time, as upstream sends it.
fn time_or_zero<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    t.unwrap_or_else(super::time::zero_time).serialize(s)
}

/// A blueprint: desired state of one deployable thing, reconciled by the kind's handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blueprint {
    /// Id, assigned by the server when empty.
    #[serde(rename = "blueprintid", default)]
    pub blueprint_id: String,
    /// Kind, e.g. `DockerDeployment`; must have a definition in the colony.
    #[serde(default)]
    pub kind: String,
    /// Metadata (generation lives here).
    #[serde(default)]
    pub metadata: BlueprintMetadata,
    /// Desired state, validated against the definition's schema.
    #[serde(default = "empty_object")]
    pub spec: Value,
    /// Observed state written by the reconciler.
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_or_null")]
    pub status: Value,
}

impl Default for Blueprint {
    fn default() -> Self {
        Self {
            blueprint_id: String::new(),
            kind: String::new(),
            metadata: BlueprintMetadata::default(),
            spec: empty_object(),
            status: empty_object(),
        }
    }
}

impl Blueprint {
    /// A new blueprint of `kind` named `name` in `colony_name` with the given spec.
    pub fn new(kind: &str, name: &str, colony_name: &str, spec: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            metadata: BlueprintMetadata {
                name: name.to_owned(),
                colony_name: colony_name.to_owned(),
                ..BlueprintMetadata::default()
            },
            spec,
            ..Self::default()
        }
    }
}

/// Names of a blueprint kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlueprintDefinitionNames {
    /// Kind, e.g. `DockerDeployment`.
    #[serde(default)]
    pub kind: String,
    /// List kind, e.g. `DockerDeploymentList`.
    #[serde(rename = "listKind", default)]
    pub list_kind: String,
    /// Singular lowercase name.
    #[serde(default)]
    pub singular: String,
    /// Plural lowercase name.
    #[serde(default)]
    pub plural: String,
    /// Short names.
    #[serde(
        rename = "shortNames",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub short_names: Vec<String>,
}

/// Who reconciles blueprints of a kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HandlerSpec {
    /// Executor type that receives reconcile and cleanup processes.
    #[serde(rename = "executorType", default)]
    pub executor_type: String,
    /// Function name of reconcile processes.
    #[serde(rename = "functionName", default)]
    pub function_name: String,
    /// Seconds between self-healing reconciles; 0 means the default (60).
    #[serde(rename = "reconcileInterval", default, skip_serializing_if = "is_zero")]
    pub reconcile_interval: i64,
}

/// The spec of a blueprint definition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BlueprintDefinitionSpec {
    /// API group, e.g. `colonyos.io`.
    #[serde(default)]
    pub group: String,
    /// API version, e.g. `v1`.
    #[serde(default)]
    pub version: String,
    /// Names of the kind.
    #[serde(default)]
    pub names: BlueprintDefinitionNames,
    /// `Namespaced` or `Cluster`.
    #[serde(default)]
    pub scope: String,
    /// Validation schema subset `{type, properties, required}` (with enum and items below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Handler.
    #[serde(default)]
    pub handler: HandlerSpec,
}

/// A blueprint definition: a kind, its schema and its handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintDefinition {
    /// Id, assigned by the server when empty.
    #[serde(rename = "blueprintdefinitionid", default)]
    pub definition_id: String,
    /// Always `BlueprintDefinition`.
    #[serde(default)]
    pub kind: String,
    /// Metadata (`name`, `colonyname`).
    #[serde(default)]
    pub metadata: BlueprintMetadata,
    /// Spec.
    #[serde(default)]
    pub spec: BlueprintDefinitionSpec,
}

impl Default for BlueprintDefinition {
    fn default() -> Self {
        Self {
            definition_id: String::new(),
            kind: "BlueprintDefinition".to_owned(),
            metadata: BlueprintMetadata::default(),
            spec: BlueprintDefinitionSpec::default(),
        }
    }
}

impl BlueprintDefinition {
    /// A namespaced definition of `kind` handled by `executor_type` / `function_name`.
    pub fn new(
        name: &str,
        colony_name: &str,
        group: &str,
        kind: &str,
        executor_type: &str,
        function_name: &str,
    ) -> Self {
        Self {
            metadata: BlueprintMetadata {
                name: name.to_owned(),
                colony_name: colony_name.to_owned(),
                ..BlueprintMetadata::default()
            },
            spec: BlueprintDefinitionSpec {
                group: group.to_owned(),
                version: "v1".to_owned(),
                names: BlueprintDefinitionNames {
                    kind: kind.to_owned(),
                    list_kind: format!("{kind}List"),
                    singular: kind.to_lowercase(),
                    plural: format!("{}s", kind.to_lowercase()),
                    short_names: Vec::new(),
                },
                scope: "Namespaced".to_owned(),
                schema: None,
                handler: HandlerSpec {
                    executor_type: executor_type.to_owned(),
                    function_name: function_name.to_owned(),
                    reconcile_interval: 0,
                },
            },
            ..Self::default()
        }
    }
}

/// One entry of a blueprint's change history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintHistory {
    /// History entry id.
    #[serde(rename = "historyid", default)]
    pub history_id: String,
    /// Blueprint id.
    #[serde(rename = "blueprintid", default)]
    pub blueprint_id: String,
    /// Blueprint kind.
    #[serde(default)]
    pub kind: String,
    /// Colony name.
    #[serde(default)]
    pub namespace: String,
    /// Blueprint name.
    #[serde(default)]
    pub name: String,
    /// Generation after the change.
    #[serde(default)]
    pub generation: i64,
    /// Spec after the change.
    #[serde(default = "empty_object")]
    pub spec: Value,
    /// Status at the change.
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_or_null")]
    pub status: Value,
    /// When the change happened.
    #[serde(default = "super::time::zero_time")]
    pub timestamp: DateTime<Utc>,
    /// Identity of who changed it.
    #[serde(rename = "changedby", default)]
    pub changed_by: String,
    /// `create`, `update` or `delete`.
    #[serde(rename = "changetype", default)]
    pub change_type: String,
}
