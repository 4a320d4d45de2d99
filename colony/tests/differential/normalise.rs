//! Makes two servers' replies comparable: known identities become their names, ids the server
//! made up and timestamps become placeholders; [`shape`] keeps only keys and JSON types.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Replaces every string equal to a known id with `<name>`, any other 64-hex or UUID string
/// with `<id>`, RFC 3339 times with `<time>` (`<zero-time>` for year 1) and integers past
/// 10^15 (Unix nanoseconds) with `<nanos>`.
pub fn normalise(v: &Value, known: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = known.get(s) {
                Value::String(format!("<{name}>"))
            } else if is_hex64(s) || is_uuid(s) {
                Value::String("<id>".into())
            } else if is_time(s) {
                Value::String(
                    if s.starts_with("0001-") {
                        "<zero-time>"
                    } else {
                        "<time>"
                    }
                    .into(),
                )
            } else {
                let mut out = s.clone();
                for (id, name) in known {
                    out = out.replace(id.as_str(), &format!("<{name}>"));
                }
                Value::String(out)
            }
        }
        Value::Number(n) if n.as_i64().is_some_and(|i| i.abs() > 1_000_000_000_000_000) => {
            Value::String("<nanos>".into())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, known)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), normalise(x, known)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Keys and JSON types only (arrays keep their length).
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), shape(x))).collect()),
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().filter(|b| *b == b'-').count() == 4
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[..4].iter().all(u8::is_ascii_digit)
}
