//! JSON helpers: canonical (sorted, pretty) output for Git, and protobuf `Value` conversions.

use prost_types::value::Kind;
use serde_json::{Map, Value};

/// Returns `v` with every object's keys sorted, recursively.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Deterministic pretty JSON with sorted keys and a trailing newline: the same value always
/// gives the same bytes, so Git sees no change when nothing changed.
pub fn canonical(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(&sorted(v)).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

/// Deepest nesting of a protobuf `Value` accepted at the edge (a scalar is depth 1, a list of
/// scalars depth 2). Deeper values are refused before anything recurses over them.
pub const MAX_VALUE_DEPTH: usize = 32;

/// Checks that `v` nests at most `max_depth` levels, without recursion (a hostile value cannot
/// overflow the stack here).
pub fn check_value_depth(
    field: &str,
    v: &prost_types::Value,
    max_depth: usize,
) -> Result<(), crate::FieldError> {
    let mut pending: Vec<(&prost_types::Value, usize)> = vec![(v, 1)];
    while let Some((v, depth)) = pending.pop() {
        if depth > max_depth {
            return Err(crate::FieldError::new(
                field,
                format!("nested deeper than {max_depth} levels"),
            ));
        }
        match &v.kind {
            Some(Kind::ListValue(l)) => pending.extend(l.values.iter().map(|c| (c, depth + 1))),
            Some(Kind::StructValue(s)) => pending.extend(s.fields.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// Converts a protobuf `Value` to JSON. Whole numbers within ±2^53 become integers.
pub fn from_proto_value(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(from_proto_value).collect()),
        Some(Kind::StructValue(s)) => Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), from_proto_value(v)))
                .collect(),
        ),
    }
}

fn number(n: f64) -> Value {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= MAX_EXACT {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Converts JSON to a protobuf `Value`.
pub fn to_proto_value(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(to_proto_value).collect(),
        }),
        Value::Object(m) => Kind::StructValue(prost_types::Struct {
            fields: m
                .iter()
                .map(|(k, v)| (k.clone(), to_proto_value(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_is_sorted_and_stable() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": null}});
        let b = json!({"a": {"c": null, "d": [1, {"y": 1, "z": 0}]}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        assert!(canonical(&a).find("\"a\"").unwrap() < canonical(&a).find("\"b\"").unwrap());
    }

    fn nested(depth: usize) -> prost_types::Value {
        let mut v = to_proto_value(&json!(1));
        for _ in 1..depth {
            v = prost_types::Value {
                kind: Some(Kind::ListValue(prost_types::ListValue { values: vec![v] })),
            };
        }
        v
    }

    #[test]
    fn value_depth_is_capped_without_recursion() {
        assert!(check_value_depth("v", &nested(MAX_VALUE_DEPTH), MAX_VALUE_DEPTH).is_ok());
        let e = check_value_depth("v", &nested(MAX_VALUE_DEPTH + 1), MAX_VALUE_DEPTH).unwrap_err();
        assert_eq!(e.field, "v");
        assert!(e.reason.contains("32 levels"), "{e}");
        // Far deeper than any stack would take recursively.
        let deep = nested(200_000);
        assert!(check_value_depth("v", &deep, MAX_VALUE_DEPTH).is_err());
        std::mem::forget(deep); // dropping it recursively would overflow the test's stack
    }

    #[test]
    fn proto_round_trip_keeps_integers() {
        let v = json!({"replicas": 3, "ratio": 0.5, "args": ["x", true], "none": null});
        assert_eq!(from_proto_value(&to_proto_value(&v)), v);
    }
}
