//! The blueprint schema subset: `type`, `enum`, `required`, nested `properties` and array
//! `items`. Keys the schema does not mention are accepted. Errors name the field path.

use serde_json::{Map, Value};

/// Validates `spec` against `schema`; the error names the offending field path.
pub(crate) fn validate(spec: &Value, schema: &Value) -> Result<(), String> {
    check(spec, schema, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() { "spec" } else { path }
}

fn check(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !type_matches(value, ty)
    {
        return Err(format!("field '{}' must be {}", display(path), article(ty)));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.is_empty()
        && !allowed.contains(value)
    {
        return Err(format!(
            "field '{}' has invalid value {value}, must be one of {}",
            display(path),
            Value::Array(allowed.clone())
        ));
    }
    if let Value::Object(obj) = value {
        check_object(obj, schema, path)?;
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, &format!("{}[{i}]", display(path)))?;
        }
    }
    Ok(())
}

fn check_object(
    obj: &Map<String, Value>,
    schema: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(name) {
                return Err(format!("required field '{}' is missing", join(path, name)));
            }
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in obj {
            if let Some(prop) = props.get(k) {
                check(v, prop, &join(path, k))?;
            }
        }
    }
    Ok(())
}

fn article(ty: &str) -> String {
    match ty {
        "integer" | "object" | "array" => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

fn type_matches(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["instances"],
            "properties": {
                "replicas": {"type": "integer"},
                "instances": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "image"],
                    "properties": {
                        "name": {"type": "string"},
                        "image": {"type": "string"},
                        "ports": {"type": "array", "items": {"type": "object", "properties": {
                            "protocol": {"type": "string", "enum": ["tcp", "udp"]}
                        }}},
                        "environment": {"type": "object"}
                    }
                }}
            }
        })
    }

    #[test]
    fn accepts_valid_spec_with_extra_keys() {
        let spec = json!({"replicas": 2, "extra": true, "instances": [
            {"name": "db", "image": "postgres", "hostPath": "/x",
             "ports": [{"protocol": "tcp", "host": 1}], "environment": {"A": "b"}}
        ]});
        assert_eq!(validate(&spec, &schema()), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "instances"),
            (json!({"instances": [], "replicas": "2"}), "replicas"),
            (json!({"instances": [{"name": "a"}]}), "instances[0].image"),
            (
                json!({"instances": [{"name": "a", "image": "i", "ports": [{"protocol": "sctp"}]}]}),
                "instances[0].ports[0].protocol",
            ),
            (json!({"instances": "x"}), "instances"),
        ];
        for (spec, field) in cases {
            let err = validate(&spec, &schema()).unwrap_err();
            assert!(
                err.contains(&format!("'{field}'")),
                "{err} should name {field}"
            );
        }
    }
}
