//! The typed blueprint document: what one `sites/<site>/<kind>/<name>.json` file holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ANN_INTENT_GENERATION, ANN_INTENT_ID, ANN_ORDER_ID};
use crate::FieldError;
use crate::json::canonical;
use crate::names::validate_name;

/// `metadata` of a blueprint file. The colony and location are not part of the file: the site
/// agent sets them (a file cannot place a blueprint in another colony).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentMetadata {
    /// Blueprint name (= the file name without `.json`).
    pub name: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations; Maestro's keys are the `ANN_*` constants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One blueprint as committed to Git.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueprintDocument {
    /// Blueprint kind (= the folder name).
    pub kind: String,
    /// Name, labels and annotations.
    pub metadata: DocumentMetadata,
    /// The kind's spec: a JSON object the kind's reconciler interprets.
    #[serde(default)]
    pub spec: Map<String, Value>,
}

impl BlueprintDocument {
    /// Reads a rendered template (a JSON object) as a document; errors name the field under
    /// `field`. `metadata.colonyname`/`locationname` are dropped: the site decides them.
    pub fn from_rendered(field: &str, mut doc: Value) -> Result<Self, FieldError> {
        let obj = doc
            .as_object_mut()
            .ok_or_else(|| FieldError::new(field, "must render to a JSON object"))?;
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.remove("colonyname");
            meta.remove("locationname");
        }
        if matches!(obj.get("spec"), Some(Value::Null)) {
            obj.remove("spec");
        }
        if !matches!(obj.get("kind"), Some(Value::String(_))) {
            return Err(FieldError::new(format!("{field}.kind"), "must be a string"));
        }
        match obj.get("metadata") {
            Some(Value::Object(m)) if matches!(m.get("name"), Some(Value::String(_))) => {}
            Some(Value::Object(_)) => {
                return Err(FieldError::new(
                    format!("{field}.metadata.name"),
                    "must be a string",
                ));
            }
            _ => {
                return Err(FieldError::new(
                    format!("{field}.metadata"),
                    "must be an object",
                ));
            }
        }
        let parsed: Self = serde_json::from_value(doc)
            .map_err(|e| FieldError::new(field, format!("not a blueprint: {e}")))?;
        validate_name(&format!("{field}.kind"), &parsed.kind)?;
        validate_name(&format!("{field}.metadata.name"), &parsed.metadata.name)?;
        Ok(parsed)
    }

    /// Parses and validates the file `sites/<site>/<kind>/<name>.json`: valid JSON of this
    /// shape, kind and name equal to the path's, the intent-id annotation present and the
    /// intent generation (when present) a decimal number.
    pub fn parse(kind: &str, name: &str, bytes: &[u8]) -> Result<Self, String> {
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
        let file_name = obj
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or("metadata: missing or not an object")?
            .get("name")
            .and_then(Value::as_str)
            .ok_or("metadata.name: missing or not a string")?;
        validate_name("metadata.name", file_name).map_err(|e| e.to_string())?;
        if file_name != name {
            return Err(format!(
                "metadata.name: {file_name:?} does not match the file name {name:?}"
            ));
        }
        let mut v = v;
        if let Some(obj) = v.as_object_mut()
            && matches!(obj.get("spec"), Some(Value::Null))
        {
            obj.remove("spec");
        }
        // The error names the offending field (`metadata.labels.x: invalid type: ...`).
        let doc: Self = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            }
        })?;
        if doc.intent_id().is_empty() {
            return Err(format!("metadata.annotations: {ANN_INTENT_ID} is required"));
        }
        if let Some(g) = doc.metadata.annotations.get(ANN_INTENT_GENERATION)
            && g.parse::<u64>().is_err()
        {
            return Err(format!(
                "metadata.annotations: {ANN_INTENT_GENERATION} {g:?} is not a decimal number"
            ));
        }
        Ok(doc)
    }

    /// The document as canonical JSON (sorted keys, pretty, trailing newline).
    pub fn to_canonical(&self) -> String {
        canonical(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// The intent id annotation ("" when absent).
    pub fn intent_id(&self) -> &str {
        self.annotation(ANN_INTENT_ID)
    }

    /// The order id annotation ("" when absent).
    pub fn order_id(&self) -> &str {
        self.annotation(ANN_ORDER_ID)
    }

    fn annotation(&self, key: &str) -> &str {
        self.metadata
            .annotations
            .get(key)
            .map_or("", String::as_str)
    }
}

/// The intent generation an annotation map carries (0 when absent or invalid).
pub fn intent_generation(annotations: &BTreeMap<String, String>) -> u64 {
    annotations
        .get(ANN_INTENT_GENERATION)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(kind: &str, name: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "kind": kind,
            "metadata": {"name": name, "labels": {"maestro.io/service": "web"},
                         "annotations": {ANN_INTENT_ID: "i-1", ANN_INTENT_GENERATION: "2"}},
            "spec": {"command": "/bin/sleep", "replicas": 2}
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_file_parses_and_round_trips() {
        let doc = BlueprintDocument::parse(
            "ProcessDeployment",
            "web",
            &file("ProcessDeployment", "web"),
        )
        .unwrap();
        assert_eq!(doc.intent_id(), "i-1");
        assert_eq!(intent_generation(&doc.metadata.annotations), 2);
        let again =
            BlueprintDocument::parse("ProcessDeployment", "web", doc.to_canonical().as_bytes())
                .unwrap();
        assert_eq!(doc, again);
    }

    #[test]
    fn mismatches_and_bad_files_are_refused_with_the_field() {
        let e = BlueprintDocument::parse("ProcessDeployment", "web", &file("Other", "web"))
            .unwrap_err();
        assert!(e.contains("does not match the directory"), "{e}");
        let e = BlueprintDocument::parse(
            "ProcessDeployment",
            "web",
            &file("ProcessDeployment", "api"),
        )
        .unwrap_err();
        assert!(e.contains("metadata.name"), "{e}");
        let e = BlueprintDocument::parse("ProcessDeployment", "web", b"{").unwrap_err();
        assert!(e.contains("invalid JSON"), "{e}");
        let bytes =
            serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n"}, "spec": {}}))
                .unwrap();
        assert!(
            BlueprintDocument::parse("K", "n", &bytes)
                .unwrap_err()
                .contains(ANN_INTENT_ID)
        );
        let bytes = serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n",
            "annotations": {ANN_INTENT_ID: "i", ANN_INTENT_GENERATION: "-1"}}}))
        .unwrap();
        assert!(
            BlueprintDocument::parse("K", "n", &bytes)
                .unwrap_err()
                .contains("decimal")
        );
        let bytes = serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n",
            "annotations": {ANN_INTENT_ID: "i"}}, "spec": [1]}))
        .unwrap();
        assert!(BlueprintDocument::parse("K", "n", &bytes).is_err());
    }

    #[test]
    fn an_ill_typed_part_is_refused_with_its_path() {
        // Found by the property tests: a label of the wrong type was refused without a field.
        let bytes = serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n",
            "labels": {"tier": [null, false]}, "annotations": {ANN_INTENT_ID: "i"}}}))
        .unwrap();
        let e = BlueprintDocument::parse("K", "n", &bytes).unwrap_err();
        assert!(e.starts_with("metadata.labels.tier: invalid type"), "{e}");
        let bytes = serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n",
            "annotations": {ANN_INTENT_ID: 7}}}))
        .unwrap();
        let e = BlueprintDocument::parse("K", "n", &bytes).unwrap_err();
        assert!(e.starts_with("metadata.annotations"), "{e}");
        let bytes = serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n"},
            "spec": [1]}))
        .unwrap();
        let e = BlueprintDocument::parse("K", "n", &bytes).unwrap_err();
        assert!(e.starts_with("spec: invalid type"), "{e}");
        let bytes = serde_json::to_vec(&json!({"kind": "K", "metadata": {"name": "n"},
            "status": {}}))
        .unwrap();
        let e = BlueprintDocument::parse("K", "n", &bytes).unwrap_err();
        assert!(e.contains("unknown field `status`"), "{e}");
    }

    #[test]
    fn rendered_templates_drop_placement_and_refuse_unknown_keys() {
        let doc = BlueprintDocument::from_rendered(
            "t[0]",
            json!({"kind": "K", "metadata": {"name": "n", "colonyname": "x", "locationname": "y"}}),
        )
        .unwrap();
        assert_eq!(doc.metadata.name, "n");
        let e = BlueprintDocument::from_rendered(
            "t[0]",
            json!({"kind": "K", "metadata": {"name": "n"}, "status": {}}),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("t[0]") && e.to_string().contains("status"),
            "{e}"
        );
        let e = BlueprintDocument::from_rendered(
            "t[0]",
            json!({"kind": "a/b", "metadata": {"name": "n"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("t[0].kind"), "{e}");
        assert!(BlueprintDocument::from_rendered("t[0]", json!([1])).is_err());
    }
}
