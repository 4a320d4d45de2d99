//! The service catalog: service specifications loaded from `catalog_dir` at start.
//!
//! Invariants: spec ids are unique `ResourceName`s; every default matches its characteristic's
//! value type and bounds; every blueprint template is an object with `kind` and `metadata.name`
//! whose programs pass `template::check_blueprint` (a shell script only when declared).

mod constraints;

pub use constraints::{Constraints, DEFAULT_MAX_LENGTH, Declared, MAX_LENGTH, MAX_REPLICAS};

use crate::{FieldError, ResourceName, template};
use maestro_proto::catalog::v1 as pb;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Template variables maestro sets itself; characteristics may not use these names.
pub const RESERVED_VARIABLES: [&str; 5] = ["service", "domain", "site", "intent", "generation"];

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog directory could not be listed.
    #[error("reading catalog dir {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One file is unreadable or invalid.
    #[error("catalog file {file}: {reason}")]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong, naming the field.
        reason: String,
    },
}

/// The type of a characteristic value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A JSON string.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl ValueType {
    /// Parses one of `string|integer|number|boolean|array|object` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "array" => Self::Array,
            "object" => Self::Object,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    /// Whether `v` is of this type.
    pub fn matches(self, v: &Value) -> bool {
        match self {
            Self::String => v.is_string(),
            Self::Integer => v.is_i64() || v.is_u64(),
            Self::Number => v.is_number(),
            Self::Boolean => v.is_boolean(),
            Self::Array => v.is_array(),
            Self::Object => v.is_object(),
        }
    }

    /// `v` as this type: as is when it matches, or parsed from a string for scalar types
    /// (OpenSlice sends every value as text). `None` when it does not fit.
    pub fn coerce(self, v: Value) -> Option<Value> {
        if self.matches(&v) {
            return Some(v);
        }
        let Value::String(s) = &v else { return None };
        let parsed = match self {
            Self::Integer => s.trim().parse::<i64>().ok().map(Value::from),
            Self::Number => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
            Self::Boolean => s.trim().parse::<bool>().ok().map(Value::Bool),
            _ => None,
        };
        parsed.filter(|p| self.matches(p))
    }
}

/// One characteristic a service spec accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecCharacteristic {
    /// Name, used as a template variable.
    pub name: String,
    /// Type of the value.
    pub value_type: ValueType,
    /// Whether an order must give it (when there is no default).
    pub required: bool,
    /// Value used when an order does not give one.
    pub default: Option<Value>,
    /// Free text.
    pub description: String,
    /// Bounds a value meets beyond its type.
    pub constraints: Constraints,
}

impl SpecCharacteristic {
    /// Checks a value already of the characteristic's type; the reason says what is wrong.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        self.constraints.check(v)
    }
}

/// A service specification (TMF633-shaped).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// Unique id.
    pub id: ResourceName,
    /// Display name.
    pub name: String,
    /// Version text.
    pub version: String,
    /// Free text.
    pub description: String,
    /// Lifecycle status, e.g. `active`.
    pub lifecycle_status: String,
    /// Accepted characteristics.
    pub characteristics: Vec<SpecCharacteristic>,
    /// Blueprint templates (see `crate::template`).
    pub blueprints: Vec<Value>,
}

impl ServiceSpec {
    /// The characteristic called `name`.
    pub fn characteristic(&self, name: &str) -> Option<&SpecCharacteristic> {
        self.characteristics.iter().find(|c| c.name == name)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSpec {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    lifecycle_status: String,
    #[serde(default)]
    characteristics: Vec<RawCharacteristic>,
    #[serde(default)]
    blueprints: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCharacteristic {
    name: String,
    value_type: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    min: Option<serde_json::Number>,
    #[serde(default)]
    max: Option<serde_json::Number>,
    #[serde(default)]
    max_length: Option<u64>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default, rename = "enum")]
    one_of: Option<Vec<Value>>,
    #[serde(default)]
    multiline: bool,
}

impl TryFrom<RawSpec> for ServiceSpec {
    type Error = FieldError;

    fn try_from(raw: RawSpec) -> Result<Self, FieldError> {
        let RawSpec {
            id,
            name,
            version,
            description,
            lifecycle_status,
            characteristics,
            blueprints,
        } = raw;
        let id = ResourceName::parse("id", &id)?;
        let mut chars: Vec<SpecCharacteristic> = Vec::with_capacity(characteristics.len());
        for (i, c) in characteristics.into_iter().enumerate() {
            let at = |f: &str| format!("characteristics[{i}].{f}");
            if c.name.trim().is_empty() {
                return Err(FieldError::new(at("name"), "must not be empty"));
            }
            if RESERVED_VARIABLES.contains(&c.name.as_str()) {
                return Err(FieldError::new(
                    at("name"),
                    format!("'{}' is reserved", c.name),
                ));
            }
            if chars.iter().any(|o| o.name == c.name) {
                return Err(FieldError::new(
                    at("name"),
                    format!("duplicate '{}'", c.name),
                ));
            }
            let value_type = ValueType::parse(&c.value_type).ok_or_else(|| {
                FieldError::new(
                    at("valueType"),
                    format!(
                        "'{}' is not one of string|integer|number|boolean|array|object",
                        c.value_type
                    ),
                )
            })?;
            if let Some(d) = c.default.as_ref().filter(|d| !value_type.matches(d)) {
                return Err(FieldError::new(
                    at("default"),
                    format!("{d} is not of type {}", value_type.as_str()),
                ));
            }
            let declared = Declared {
                min: c.min,
                max: c.max,
                max_length: c.max_length,
                pattern: c.pattern,
                one_of: c.one_of,
                multiline: c.multiline,
            };
            let constraints = Constraints::new(value_type, declared)
                .map_err(|e| e.within(&format!("characteristics[{i}]")))?;
            chars.push(SpecCharacteristic {
                name: c.name,
                value_type,
                required: c.required,
                default: c.default,
                description: c.description,
                constraints,
            });
        }
        for (i, b) in blueprints.iter().enumerate() {
            let field = format!("blueprints[{i}]");
            check_template(b).map_err(|e| e.within(&field))?;
            template::check_blueprint(&field, b)?;
            let replicas = b.get("spec").and_then(|s| s.get("replicas"));
            let Some(name) = replicas
                .and_then(Value::as_str)
                .and_then(template::whole_placeholder)
            else {
                continue;
            };
            if let Some((j, c)) = chars.iter_mut().enumerate().find(|(_, c)| c.name == name) {
                c.constraints = c
                    .constraints
                    .clone()
                    .for_replicas()
                    .map_err(|e| e.within(&format!("characteristics[{j}]")))?;
            }
        }
        for (i, c) in chars.iter().enumerate() {
            if let Some(d) = &c.default {
                c.check(d).map_err(|reason| {
                    FieldError::new(format!("characteristics[{i}].default"), reason)
                })?;
            }
        }
        Ok(Self {
            id,
            name,
            version,
            description,
            lifecycle_status,
            characteristics: chars,
            blueprints,
        })
    }
}

fn check_template(b: &Value) -> Result<(), FieldError> {
    let obj = b
        .as_object()
        .ok_or_else(|| FieldError::new("", "must be an object"))?;
    match obj.get("kind") {
        Some(Value::String(k)) if !k.is_empty() => {}
        _ => return Err(FieldError::new("kind", "must be a non-empty string")),
    }
    match obj.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(n)) if !n.is_empty() => Ok(()),
        _ => Err(FieldError::new(
            "metadata.name",
            "must be a non-empty string",
        )),
    }
}

/// The loaded catalog, keyed by spec id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    specs: BTreeMap<String, Arc<ServiceSpec>>,
}

impl Catalog {
    /// Loads every `*.yaml|*.yml|*.json` file in `dir` (not recursive), in name order.
    pub fn load(dir: &Path) -> Result<Self, CatalogError> {
        let documents = load_documents(dir)?;
        let mut specs = BTreeMap::new();
        let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (file, doc) in documents {
            let bad = |reason: String| CatalogError::File {
                file: file.clone(),
                reason,
            };
            let spec = spec_from_json(&doc).map_err(|e| bad(e.to_string()))?;
            if let Some(first) = origin.get(spec.id.as_str()) {
                return Err(bad(format!(
                    "id: duplicate '{}' (also in {})",
                    spec.id,
                    first.display()
                )));
            }
            origin.insert(spec.id.to_string(), file.clone());
            specs.insert(spec.id.to_string(), Arc::new(spec));
        }
        Ok(Self { specs })
    }

    /// A catalog of `specs` (for tests and fixtures).
    pub fn from_specs(specs: impl IntoIterator<Item = ServiceSpec>) -> Self {
        Self {
            specs: specs
                .into_iter()
                .map(|s| (s.id.to_string(), Arc::new(s)))
                .collect(),
        }
    }

    /// A catalog of shared `specs`.
    pub fn from_shared(specs: impl IntoIterator<Item = Arc<ServiceSpec>>) -> Self {
        Self {
            specs: specs.into_iter().map(|s| (s.id.to_string(), s)).collect(),
        }
    }

    /// The spec `id`.
    pub fn get(&self, id: &str) -> Option<Arc<ServiceSpec>> {
        self.specs.get(id).cloned()
    }

    /// Every spec, by id.
    pub fn specs(&self) -> impl Iterator<Item = &ServiceSpec> {
        self.specs.values().map(|s| s.as_ref())
    }

    /// Every spec, shared, by id.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<ServiceSpec>> {
        self.specs.values()
    }

    /// Whether the catalog holds no spec.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// Largest catalog file read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Most files in one catalog directory.
pub const MAX_FILES: usize = 256;

/// Reads every `*.yaml|*.yml|*.json` file in `dir` (not recursive), in name order, as the JSON
/// documents they hold (YAML converted), without checking them as specs: the form a domain
/// publishes its catalog in. Files over [`MAX_FILE_BYTES`] or more than [`MAX_FILES`] files are
/// refused, naming the file.
pub fn load_documents(dir: &Path) -> Result<Vec<(PathBuf, Value)>, CatalogError> {
    let dir_err = |source| CatalogError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_err)? {
        let path = entry.map_err(dir_err)?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if path.is_file() && matches!(ext, "yaml" | "yml" | "json") {
            files.push(path);
        }
    }
    files.sort();
    if files.len() > MAX_FILES {
        return Err(CatalogError::Dir {
            dir: dir.to_path_buf(),
            source: std::io::Error::other(format!("more than {MAX_FILES} catalog files")),
        });
    }
    let mut documents = Vec::with_capacity(files.len());
    for file in files {
        let bad = |reason: String| CatalogError::File {
            file: file.clone(),
            reason,
        };
        let size = std::fs::metadata(&file)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(bad(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| bad(e.to_string()))?;
        let doc: Value = if file.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        } else {
            serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?
        };
        documents.push((file, doc));
    }
    Ok(documents)
}

/// Checks one specification document (a catalog file as JSON) and builds the spec; the error
/// names the field.
pub fn spec_from_json(doc: &Value) -> Result<ServiceSpec, FieldError> {
    let raw = RawSpec::deserialize(doc).map_err(|e| FieldError::new("", e.to_string()))?;
    ServiceSpec::try_from(raw)
}

impl From<&ServiceSpec> for pb::ServiceSpec {
    fn from(s: &ServiceSpec) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            version: s.version.clone(),
            description: s.description.clone(),
            lifecycle_status: s.lifecycle_status.clone(),
            characteristics: s
                .characteristics
                .iter()
                .map(|c| pb::SpecCharacteristic {
                    name: c.name.clone(),
                    value_type: c.value_type.as_str().to_string(),
                    required: c.required,
                    default_json: c.default.as_ref().map(Value::to_string).unwrap_or_default(),
                    description: c.description.clone(),
                })
                .collect(),
            blueprint_templates_json: s.blueprints.iter().map(Value::to_string).collect(),
            offered_by: Vec::new(),
            conflicting_domains: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    const GOOD: &str = "id: demo-app\nname: Demo\nversion: \"1.0\"\ncharacteristics:\n  - { name: replicas, valueType: integer, default: 1 }\n  - { name: message, valueType: string, required: true }\nblueprints:\n  - kind: ProcessDeployment\n    metadata: { name: \"${service}\" }\n    spec: { command: /bin/sh, replicas: \"${replicas}\" }\n";

    #[test]
    fn loads_yaml_and_json() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", GOOD);
        write(dir.path(), "b.json", r#"{"id":"other","blueprints":[]}"#);
        write(dir.path(), "README.md", "ignored");
        let c = Catalog::load(dir.path()).unwrap();
        let s = c.get("demo-app").unwrap();
        assert_eq!(s.characteristics[0].value_type, ValueType::Integer);
        assert!(s.characteristics[1].required);
        assert!(c.get("other").is_some());
    }

    #[test]
    fn bad_default_names_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "bad.yaml",
            &GOOD.replace("default: 1", "default: many"),
        );
        let e = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("bad.yaml") && e.contains("characteristics[0].default"),
            "{e}"
        );
    }

    #[test]
    fn rejects_duplicates_bad_types_and_templates() {
        let cases = [
            (
                GOOD.replace("valueType: integer", "valueType: int"),
                "characteristics[0].valueType",
            ),
            (
                GOOD.replace("kind: ProcessDeployment", "spec2: 1"),
                "blueprints[0].kind",
            ),
            (
                GOOD.replace("name: \"${service}\"", "nome: x"),
                "blueprints[0].metadata.name",
            ),
            (GOOD.replace("id: demo-app", "id: ../x"), "id"),
            (
                GOOD.replace("name: message", "name: service"),
                "characteristics[1].name",
            ),
            (GOOD.replace("version:", "versoin:"), "versoin"),
        ];
        for (text, field) in cases {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "x.yml", &text);
            let e = Catalog::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains("x.yml") && e.contains(field), "{field}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", GOOD);
        write(dir.path(), "b.yaml", GOOD);
        let e = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("b.yaml") && e.contains("duplicate"), "{e}");
    }

    #[test]
    fn bounds_patterns_and_shell_scripts_are_checked_at_load() {
        let cases = [
            (
                GOOD.replace("default: 1 }", "default: 1, min: 5, max: 1 }"),
                "characteristics[0].min: 5 is above max 1",
            ),
            (
                GOOD.replace("required: true }", "required: true, pattern: \"(\" }"),
                "characteristics[1].pattern: invalid",
            ),
            (
                GOOD.replace("default: 1 }", "default: 1, max: 1000 }"),
                "characteristics[0].max: 1000 is outside the 0 to 256 replicas",
            ),
            (
                GOOD.replace("default: 1 }", "default: 300 }"),
                "characteristics[0].default: must be between 0 and 256, got 300",
            ),
            (
                GOOD.replace("valueType: integer", "valueType: string")
                    .replace("default: 1", "default: \"1\""),
                "characteristics[0].valueType: is string, but replicas are an integer",
            ),
            (
                GOOD.replace("required: true }", "required: true, min: 1 }"),
                "characteristics[1].min: applies to integer and number",
            ),
            (
                GOOD.replace(
                    "command: /bin/sh,",
                    "command: /bin/sh, args: [\"-c\", \"echo ${message}\"],",
                ),
                "blueprints[0].spec.args[1]: runs a shell script",
            ),
        ];
        for (text, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "x.yml", &text);
            let e = Catalog::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains("x.yml") && e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn a_characteristic_used_as_replicas_gets_the_sites_bounds() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", GOOD);
        let c = Catalog::load(dir.path()).unwrap();
        let replicas = c.get("demo-app").unwrap().characteristics[0].clone();
        assert_eq!(
            replicas.check(&Value::from(-1)),
            Err("must be between 0 and 256, got -1".into())
        );
        assert_eq!(replicas.check(&Value::from(256)), Ok(()));
    }

    #[test]
    fn the_example_catalog_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/catalog");
        let c = Catalog::load(&dir).unwrap();
        let demo = c.get("demo-app").unwrap();
        assert_eq!(demo.blueprints[0]["shell"], Value::Bool(true));
        assert!(c.specs().count() >= 4);
    }

    #[test]
    fn coerces_openslice_text_values() {
        assert_eq!(
            ValueType::Integer.coerce(Value::from("3")),
            Some(Value::from(3))
        );
        assert_eq!(
            ValueType::Boolean.coerce(Value::from("true")),
            Some(Value::Bool(true))
        );
        assert_eq!(ValueType::Integer.coerce(Value::from("x")), None);
        assert_eq!(ValueType::String.coerce(Value::from(3)), None);
    }
}
