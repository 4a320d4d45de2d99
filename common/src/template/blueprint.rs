//! Rendering a blueprint template so that values never become code.
//!
//! Every object of a template holding `command` or `args` is a program to run: its argument
//! vector is `command` (a string, or a list for containers) followed by `args` (a list), and
//! every one of those strings and every value of its `env`/`environment` object is rendered as
//! one literal argument ([`Mode::Argument`]): a placeholder there must be a string, number or
//! boolean without a NUL byte, and never splits into several arguments.
//!
//! A program that runs a shell script (a [`shell::SHELLS`] program, then `-c`, then the
//! script) is allowed only when the blueprint declares `shell: true` at its top level; the
//! script's placeholders are then shell-quoted ([`Mode::Script`]) and the script itself cannot
//! be a bare placeholder. `shell` is a template key only: it is not part of the rendered
//! blueprint.

use super::{Mode, render_with, shell};
use crate::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The top-level template key declaring that the blueprint runs a shell script.
pub const SHELL_KEY: &str = "shell";

/// What a template's programs are: the template without [`SHELL_KEY`] and the mode of each
/// string of a program.
struct Layout {
    template: Value,
    modes: BTreeMap<String, Mode>,
}

/// Checks a blueprint template without rendering it: the shell declaration, the programs'
/// shapes. `field` names the template in errors (`blueprints[0]`).
pub fn check_blueprint(field: &str, template: &Value) -> Result<(), FieldError> {
    layout(field, template).map(|_| ())
}

/// Renders a blueprint template with `vars` (see the module docs); errors name the JSON path
/// under `field`.
pub fn render_blueprint(
    field: &str,
    template: &Value,
    vars: &Map<String, Value>,
) -> Result<Value, FieldError> {
    let l = layout(field, template)?;
    let rendered = render_with(field, &l.template, vars, &l.modes)?;
    // A value that chose the program (`command: "${cmd}"`) must not turn an argument into a
    // script the template did not declare.
    let mut after = BTreeMap::new();
    walk(field, &rendered, true, &mut after, &mut 0)?;
    if let Some((path, _)) = after
        .iter()
        .find(|(p, m)| **m == Mode::Script && l.modes.get(*p) != Some(&Mode::Script))
    {
        return Err(FieldError::new(
            path,
            "a value made this program run a shell script, which the template does not declare",
        ));
    }
    Ok(rendered)
}

fn layout(field: &str, template: &Value) -> Result<Layout, FieldError> {
    let mut template = template.clone();
    let declared = match template.as_object_mut().and_then(|o| o.remove(SHELL_KEY)) {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(FieldError::new(
                format!("{field}.{SHELL_KEY}"),
                format!("must be true or false, got {other}"),
            ));
        }
    };
    let mut modes = BTreeMap::new();
    let mut scripts = 0usize;
    walk(field, &template, declared, &mut modes, &mut scripts)?;
    if declared && scripts == 0 {
        return Err(FieldError::new(
            format!("{field}.{SHELL_KEY}"),
            "is true but no command runs a shell script (a shell program, -c, the script)",
        ));
    }
    Ok(Layout { template, modes })
}

fn walk(
    path: &str,
    v: &Value,
    declared: bool,
    modes: &mut BTreeMap<String, Mode>,
    scripts: &mut usize,
) -> Result<(), FieldError> {
    match v {
        Value::Object(m) => {
            if m.contains_key("command") || m.contains_key("args") {
                *scripts += program(path, m, declared, modes)?;
            }
            for key in ["env", "environment"] {
                if let Some(Value::Object(env)) = m.get(key) {
                    for k in env.keys() {
                        modes.insert(format!("{path}.{key}.{k}"), Mode::Argument);
                    }
                }
            }
            for (k, x) in m {
                walk(&format!("{path}.{k}"), x, declared, modes, scripts)?;
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), x, declared, modes, scripts)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn push_list<'a>(argv: &mut Vec<(String, &'a str)>, path: &str, list: &'a [Value]) {
    for (i, a) in list.iter().enumerate() {
        if let Value::String(s) = a {
            argv.push((format!("{path}[{i}]"), s.as_str()));
        }
    }
}

/// Sets the modes of one program's argument vector; 1 when it runs a shell script.
fn program(
    path: &str,
    m: &Map<String, Value>,
    declared: bool,
    modes: &mut BTreeMap<String, Mode>,
) -> Result<usize, FieldError> {
    // (JSON path, text) of every argument, in order.
    let mut argv: Vec<(String, &str)> = Vec::new();
    match m.get("command") {
        Some(Value::String(s)) => argv.push((format!("{path}.command"), s.as_str())),
        Some(Value::Array(list)) => push_list(&mut argv, &format!("{path}.command"), list),
        _ => {}
    }
    match m.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => push_list(&mut argv, &format!("{path}.args"), list),
        Some(_) => {
            return Err(FieldError::new(
                format!("{path}.args"),
                "must be a list: each placeholder is one argument, never several",
            ));
        }
    }
    let texts: Vec<&str> = argv.iter().map(|(_, s)| *s).collect();
    for i in super::interpreters::inline_code(&texts) {
        let (p, text) = &argv[i];
        if super::has_placeholder(text) {
            return Err(FieldError::new(
                p,
                "is code an interpreter runs: a value is never code; pass it as an argument \
                 of its own or in `env`",
            ));
        }
    }
    let script = shell::script_index(&texts);
    for (i, (p, _)) in argv.iter().enumerate() {
        let mode = if Some(i) == script {
            Mode::Script
        } else {
            Mode::Argument
        };
        modes.insert(p.clone(), mode);
    }
    let Some(i) = script else { return Ok(0) };
    let (p, text) = &argv[i];
    if !declared {
        return Err(FieldError::new(
            p,
            format!(
                "runs a shell script: declare `{SHELL_KEY}: true` on the blueprint (its values \
                 are then shell-quoted), or run the program without a shell"
            ),
        ));
    }
    if super::whole_placeholder(text).is_some() {
        return Err(FieldError::new(
            p,
            "a shell script must be written in the template; a value is never code",
        ));
    }
    Ok(1)
}

#[cfg(test)]
#[path = "blueprint_tests.rs"]
mod tests;
