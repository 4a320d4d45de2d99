//! Helpers for reading blueprint spec values, shared by the kinds.

use serde_json::Value;

/// A scalar (string, number or boolean) as a string, as ColonyOS specs allow for env values and
/// the like; `None` for anything else.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_become_strings_and_the_rest_none() {
        assert_eq!(scalar(&json!("a")).as_deref(), Some("a"));
        assert_eq!(scalar(&json!(8080)).as_deref(), Some("8080"));
        assert_eq!(scalar(&json!(true)).as_deref(), Some("true"));
        assert_eq!(scalar(&json!([1])), None);
        assert_eq!(scalar(&Value::Null), None);
    }
}
