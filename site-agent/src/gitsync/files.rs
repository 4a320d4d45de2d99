//! Parsing and validation of the files of one commit: `definitions/<kind>.json` and
//! `sites/<site>/<kind>/<name>.json`. Pure functions, no I/O.

use std::collections::BTreeMap;

use colony::model::{Blueprint, BlueprintDefinition, BlueprintMetadata};
use maestro_common::names::validate_name;
use serde_json::Value;

/// Annotation every blueprint managed by the agent carries.
pub const INTENT_ID: &str = "maestro.io/intent-id";
/// Annotation with the intent generation (decimal string).
pub const INTENT_GENERATION: &str = "maestro.io/intent-generation";
/// Annotation with the order id.
pub const ORDER_ID: &str = "maestro.io/order-id";

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

/// Splits `<kind>/<name>.json` (relative to `sites/<site>/`) into validated kind and name.
pub fn parse_blueprint_path(rel: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let [kind, file] = parts.as_slice() else {
        return Err("expected sites/<site>/<kind>/<name>.json".to_string());
    };
    let Some(name) = file.strip_suffix(".json") else {
        return Err("file name must end in .json".to_string());
    };
    validate_name("kind", kind).map_err(|e| e.to_string())?;
    validate_name("name", name).map_err(|e| e.to_string())?;
    Ok(((*kind).to_string(), name.to_string()))
}

/// Parses and validates the blueprint file `sites/<site>/<kind>/<name>.json` for colony `colony`
/// at location `site`.
pub fn parse_blueprint(
    kind: &str,
    name: &str,
    bytes: &[u8],
    colony: &str,
    site: &str,
) -> Result<Blueprint, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let file_kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("kind: missing or not a string")?;
    validate_name("kind", file_kind).map_err(|e| e.to_string())?;
    if file_kind != kind {
        return Err(format!(
            "kind: {file_kind:?} does not match the directory {kind:?}"
        ));
    }
    let meta = obj
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or("metadata: missing or not an object")?;
    let file_name = meta
        .get("name")
        .and_then(Value::as_str)
        .ok_or("metadata.name: missing or not a string")?;
    validate_name("metadata.name", file_name).map_err(|e| e.to_string())?;
    if file_name != name {
        return Err(format!(
            "metadata.name: {file_name:?} does not match the file name {name:?}"
        ));
    }
    let labels = string_map(meta.get("labels")).map_err(|e| format!("metadata.labels: {e}"))?;
    let annotations =
        string_map(meta.get("annotations")).map_err(|e| format!("metadata.annotations: {e}"))?;
    if annotations.get(INTENT_ID).is_none_or(String::is_empty) {
        return Err(format!("metadata.annotations: {INTENT_ID} is required"));
    }
    if let Some(g) = annotations.get(INTENT_GENERATION)
        && g.parse::<u64>().is_err()
    {
        return Err(format!(
            "metadata.annotations: {INTENT_GENERATION} {g:?} is not a decimal number"
        ));
    }
    let spec = match obj.get("spec") {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(s @ Value::Object(_)) => s.clone(),
        Some(_) => return Err("spec: not an object".to_string()),
    };
    Ok(Blueprint {
        kind: kind.to_string(),
        metadata: BlueprintMetadata {
            name: name.to_string(),
            colony_name: colony.to_string(),
            location_name: site.to_string(),
            labels,
            annotations,
            ..BlueprintMetadata::default()
        },
        spec,
        ..Blueprint::default()
    })
}

fn string_map(v: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("value of {k:?} is not a string")),
            })
            .collect(),
        Some(_) => Err("not an object".to_string()),
    }
}

/// Parses `definitions/<file>` as a blueprint definition for `colony`.
pub fn parse_definition(
    file: &str,
    bytes: &[u8],
    colony: &str,
) -> Result<BlueprintDefinition, String> {
    let Some(stem) = file.strip_suffix(".json") else {
        return Err("file name must end in .json".to_string());
    };
    validate_name("definition", stem).map_err(|e| e.to_string())?;
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
    bp.metadata
        .annotations
        .get(INTENT_GENERATION)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

/// True when the agent manages `bp` (it carries the intent-id annotation).
pub fn is_managed(bp: &Blueprint) -> bool {
    bp.metadata.annotations.contains_key(INTENT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(kind: &str, name: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "kind": kind,
            "metadata": {"name": name, "labels": {"maestro.io/service": "web"},
                         "annotations": {INTENT_ID: "i-1", INTENT_GENERATION: "2"}},
            "spec": {"command": "/bin/sleep", "replicas": 2}
        }))
        .unwrap()
    }

    #[test]
    fn valid_file_gets_colony_and_location() {
        let bp = parse_blueprint(
            "ProcessDeployment",
            "web",
            &file("ProcessDeployment", "web"),
            "s1",
            "s1",
        )
        .unwrap();
        assert_eq!(bp.metadata.colony_name, "s1");
        assert_eq!(bp.metadata.location_name, "s1");
        assert_eq!(intent_generation(&bp), 2);
        assert!(is_managed(&bp));
    }

    #[test]
    fn mismatches_and_bad_names_are_rejected() {
        let e = parse_blueprint("ProcessDeployment", "web", &file("Other", "web"), "s", "s")
            .unwrap_err();
        assert!(e.contains("does not match the directory"), "{e}");
        let e = parse_blueprint(
            "ProcessDeployment",
            "web",
            &file("ProcessDeployment", "api"),
            "s",
            "s",
        )
        .unwrap_err();
        assert!(e.contains("metadata.name"), "{e}");
        let e = parse_blueprint("ProcessDeployment", "web", b"{", "s", "s").unwrap_err();
        assert!(e.contains("invalid JSON"), "{e}");
        assert!(parse_blueprint_path("ProcessDeployment/bad name.json").is_err());
        assert!(parse_blueprint_path("ProcessDeployment/web.yaml").is_err());
        assert!(parse_blueprint_path("a/b/c.json").is_err());
        assert_eq!(
            parse_blueprint_path("ProcessDeployment/web.json").unwrap(),
            ("ProcessDeployment".to_string(), "web".to_string())
        );
    }

    #[test]
    fn missing_intent_annotation_is_rejected() {
        let bytes =
            serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n"}, "spec": {}}))
                .unwrap();
        assert!(
            parse_blueprint("K", "n", &bytes, "s", "s")
                .unwrap_err()
                .contains(INTENT_ID)
        );
    }
}
