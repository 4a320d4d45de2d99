//! The files of one commit (`definitions/<kind>.json`, `sites/<site>/<kind>/<name>.json`, as
//! `maestro_common::contract` defines them) turned into colony objects. Pure functions, no I/O.

use colony::model::{Blueprint, BlueprintDefinition, BlueprintMetadata};
use maestro_common::contract::{self, BlueprintDocument, parse_definition_file};
use maestro_common::names::validate_name;
use serde_json::Value;

pub use maestro_common::contract::{
    ANN_INTENT_GENERATION as INTENT_GENERATION, ANN_INTENT_ID as INTENT_ID,
    ANN_ORDER_ID as ORDER_ID, parse_blueprint_path,
};

/// A file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// Path in the repository.
    pub path: String,
    /// What was wrong.
    pub reason: String,
    /// Blueprint name the path names, when it is a valid name: a blueprint of that name is kept
    /// (never removed) while its file is broken.
    pub protected_name: Option<String>,
}

/// Parses and validates the blueprint file `sites/<site>/<kind>/<name>.json` (see
/// [`BlueprintDocument::parse`]) into a blueprint of colony `colony` at location `site`.
pub fn parse_blueprint(
    kind: &str,
    name: &str,
    bytes: &[u8],
    colony: &str,
    site: &str,
) -> Result<Blueprint, String> {
    let doc = BlueprintDocument::parse(kind, name, bytes)?;
    Ok(Blueprint {
        kind: doc.kind,
        metadata: BlueprintMetadata {
            name: doc.metadata.name,
            colony_name: colony.to_string(),
            location_name: site.to_string(),
            labels: doc.metadata.labels,
            annotations: doc.metadata.annotations,
            ..BlueprintMetadata::default()
        },
        spec: Value::Object(doc.spec),
        ..Blueprint::default()
    })
}

/// Parses `definitions/<file>` as a blueprint definition for `colony`.
pub fn parse_definition(
    file: &str,
    bytes: &[u8],
    colony: &str,
) -> Result<BlueprintDefinition, String> {
    let stem = parse_definition_file(file)?;
    let mut def: BlueprintDefinition =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid blueprint definition: {e}"))?;
    let kind = def.spec.names.kind.clone();
    validate_name("spec.names.kind", &kind).map_err(|e| e.to_string())?;
    if kind != stem {
        return Err(format!(
            "spec.names.kind: {kind:?} does not match the file name {stem:?}"
        ));
    }
    if def.spec.handler.executor_type.is_empty() {
        return Err("spec.handler.executorType is required".to_string());
    }
    if def.metadata.name.is_empty() {
        def.metadata.name = format!("{}.{}", def.spec.names.plural, def.spec.group);
    }
    validate_name("metadata.name", &def.metadata.name).map_err(|e| e.to_string())?;
    def.kind = "BlueprintDefinition".to_string();
    def.definition_id.clear();
    def.metadata.colony_name = colony.to_string();
    Ok(def)
}

/// The intent generation of a blueprint (0 when absent or invalid).
pub fn intent_generation(bp: &Blueprint) -> u64 {
    contract::intent_generation(&bp.metadata.annotations)
}

/// True when the agent manages `bp` (it carries the intent-id annotation).
pub fn is_managed(bp: &Blueprint) -> bool {
    bp.metadata.annotations.contains_key(INTENT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_file_gets_colony_and_location_and_a_violation_is_refused() {
        let bytes = br#"{"kind": "ConfigFile", "metadata": {"name": "gw",
            "annotations": {"maestro.io/intent-id": "i-9", "maestro.io/intent-generation": "4"}},
            "spec": {"files": []}}"#;
        let bp = parse_blueprint("ConfigFile", "gw", bytes, "s1", "s1").unwrap();
        assert_eq!(
            (
                bp.metadata.colony_name.as_str(),
                bp.metadata.location_name.as_str()
            ),
            ("s1", "s1")
        );
        assert_eq!(intent_generation(&bp), 4);
        assert!(is_managed(&bp));
        let e = parse_blueprint("ProcessDeployment", "gw", bytes, "s", "s").unwrap_err();
        assert!(e.contains("does not match the directory"), "{e}");
    }
}
