//! Blueprint templates: JSON documents with `${var}` placeholders, rendered per site.
//!
//! A string that is exactly `${var}` becomes the variable's JSON value (so `"${replicas}"`
//! renders to the number `3`); a placeholder inside a longer string is replaced by the value's
//! text. `$${` escapes a literal `${`. An unknown variable is an error naming the JSON path.
//!
//! Blueprints are rendered with [`render_blueprint`], which keeps values from ever becoming
//! code: every string of a `command`, `args` or `env` is one literal argument (see
//! [`blueprint`]), a shell script (declared with `shell: true`) gets its values
//! shell-quoted (see [`shell`]), and the inline code of other interpreters (`python -c`,
//! `perl -e`, an awk program) may hold no placeholder at all (see [`interpreters`]).

pub mod blueprint;
pub mod interpreters;
pub mod shell;

pub use blueprint::{check_blueprint, render_blueprint};

use crate::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a placeholder is substituted into one string of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As is: a whole placeholder keeps its JSON type, an embedded one becomes its text.
    Plain,
    /// One argument of a program (`command`, `args`, an `env` value): the value must be a
    /// string, number or boolean without a NUL byte.
    Argument,
    /// A shell script: like [`Mode::Argument`], and each value is shell-quoted.
    Script,
}

/// Largest rendered string, guarding against blow-up through repeated substitution.
pub const MAX_RENDERED_STRING: usize = 64 * 1024;

/// Renders `template` with `vars`. `field` names the template in errors.
pub fn render(
    field: &str,
    template: &Value,
    vars: &Map<String, Value>,
) -> Result<Value, FieldError> {
    render_with(field, template, vars, &BTreeMap::new())
}

/// Renders `template` with `vars`, each string in the [`Mode`] `modes` gives its JSON path
/// (`field.spec.args[1]`), [`Mode::Plain`] when absent.
pub fn render_with(
    field: &str,
    template: &Value,
    vars: &Map<String, Value>,
    modes: &BTreeMap<String, Mode>,
) -> Result<Value, FieldError> {
    let r = Renderer { vars, modes };
    r.at(field, template)
}

struct Renderer<'a> {
    vars: &'a Map<String, Value>,
    modes: &'a BTreeMap<String, Mode>,
}

impl Renderer<'_> {
    fn at(&self, path: &str, v: &Value) -> Result<Value, FieldError> {
        Ok(match v {
            Value::String(s) => {
                let mode = self.modes.get(path).copied().unwrap_or(Mode::Plain);
                render_string(path, s, self.vars, mode)?
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.at(&format!("{path}[{i}]"), x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.at(&format!("{path}.{k}"), x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// Whether `s` holds a placeholder (`$${` is an escaped literal, not one).
pub fn has_placeholder(s: &str) -> bool {
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            rest = tail;
        } else if after.starts_with("${") {
            return true;
        } else {
            rest = &after[1..];
        }
    }
    false
}

/// The name of the variable when `s` is exactly one placeholder (`${name}`).
pub fn whole_placeholder(s: &str) -> Option<&str> {
    s.strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .filter(|name| !name.contains('}') && !name.contains("${"))
        .map(str::trim)
}

/// The text a value of `name` gives in a string of `mode`: refused when it cannot be one
/// argument (an array, object or null, or a NUL byte), shell-quoted in a script.
fn argument_text(path: &str, name: &str, value: &Value, mode: Mode) -> Result<String, FieldError> {
    let text = match value {
        Value::String(t) => t.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other if mode == Mode::Plain => other.to_string(),
        other => {
            return Err(FieldError::new(
                path,
                format!(
                    "'{name}' is {}: a value in a command, args or env is exactly one argument",
                    kind_of(other)
                ),
            ));
        }
    };
    if mode == Mode::Plain {
        return Ok(text);
    }
    if text.contains('\0') {
        return Err(FieldError::new(
            path,
            format!("'{name}' contains a NUL byte, which no argument can hold"),
        ));
    }
    Ok(if mode == Mode::Script {
        shell::quote(&text)
    } else {
        text
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn render_string(
    path: &str,
    s: &str,
    vars: &Map<String, Value>,
    mode: Mode,
) -> Result<Value, FieldError> {
    if let Some(name) = whole_placeholder(s) {
        let value = lookup(path, name, vars)?;
        return match mode {
            Mode::Plain => Ok(value.clone()),
            Mode::Argument => {
                argument_text(path, name, value, mode)?;
                Ok(value.clone())
            }
            Mode::Script => Err(FieldError::new(
                path,
                "a shell script must be written in the template; a value is never code",
            )),
        };
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
            let name = tail[..end].trim();
            let value = lookup(path, name, vars)?;
            out.push_str(&argument_text(path, name, value, mode)?);
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
