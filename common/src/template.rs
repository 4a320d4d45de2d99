//! Blueprint templates: JSON documents with `${var}` placeholders, rendered per site.
//!
//! A string that is exactly `${var}` becomes the variable's JSON value (so `"${replicas}"`
//! renders to the number `3`); a placeholder inside a longer string is replaced by the value's
//! text. `$${` escapes a literal `${`. An unknown variable is an error naming the JSON path.

use crate::FieldError;
use serde_json::{Map, Value};

/// Largest rendered string, guarding against blow-up through repeated substitution.
pub const MAX_RENDERED_STRING: usize = 64 * 1024;

/// Renders `template` with `vars`. `field` names the template in errors.
pub fn render(
    field: &str,
    template: &Value,
    vars: &Map<String, Value>,
) -> Result<Value, FieldError> {
    render_at(field, template, vars)
}

fn render_at(path: &str, v: &Value, vars: &Map<String, Value>) -> Result<Value, FieldError> {
    Ok(match v {
        Value::String(s) => render_string(path, s, vars)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| render_at(&format!("{path}[{i}]"), x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(k.clone(), render_at(&format!("{path}.{k}"), x, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn render_string(path: &str, s: &str, vars: &Map<String, Value>) -> Result<Value, FieldError> {
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
        && !name.contains('}')
        && !name.contains("${")
    {
        return lookup(path, name, vars).cloned();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| FieldError::new(path, "unterminated '${'"))?;
            let value = lookup(path, &tail[..end], vars)?;
            match value {
                Value::String(t) => out.push_str(t),
                other => out.push_str(&other.to_string()),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
        if out.len() > MAX_RENDERED_STRING {
            return Err(FieldError::new(path, "rendered string too long"));
        }
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn lookup<'a>(
    path: &str,
    name: &str,
    vars: &'a Map<String, Value>,
) -> Result<&'a Value, FieldError> {
    vars.get(name.trim())
        .ok_or_else(|| FieldError::new(path, format!("unknown variable '{}'", name.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Map<String, Value> {
        json!({"replicas": 3, "msg": "hi", "site": "north-1", "args": ["a", "b"]})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn whole_placeholder_keeps_type() {
        let t = json!({"spec": {"replicas": "${replicas}", "args": "${args}"}});
        assert_eq!(
            render("t", &t, &vars()).unwrap(),
            json!({"spec": {"replicas": 3, "args": ["a", "b"]}})
        );
    }

    #[test]
    fn embedded_placeholders_interpolate_text() {
        let t = json!([
            "echo ${msg} from ${site} x${replicas}",
            "cost $5",
            "$${literal}"
        ]);
        assert_eq!(
            render("t", &t, &vars()).unwrap(),
            json!(["echo hi from north-1 x3", "cost $5", "${literal}"])
        );
    }

    #[test]
    fn unknown_variable_names_the_path() {
        let e = render(
            "blueprints[0]",
            &json!({"spec": {"a": ["${nope}"]}}),
            &vars(),
        )
        .unwrap_err();
        assert_eq!(e.field, "blueprints[0].spec.a[0]");
        assert!(e.reason.contains("nope"));
    }
}
