//! Property tests of the parsers and renderers of `maestro_common` that sit at the edge:
//! resource names, JSON <-> protobuf `Value`, and the blueprint template renderer.
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed (`cc ...`), saved next to this file in `prop_names_templates.proptest-regressions`.
//! See `docs/testing.md`.

use maestro_common::ResourceName;
use maestro_common::json::{from_proto_value, to_proto_value};
use maestro_common::names::{MAX_NAME_LEN, validate_name};
use maestro_common::template::shell::{quote, script_index};
use maestro_common::template::{MAX_RENDERED_STRING, render_blueprint};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Strings a hostile client would send: anything, control characters, path tricks, long runs.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._-]{1,70}",
        "[\\x00-\\x1f\\x7f/\\\\.]{0,8}",
        "(\\.\\.|/|\\\\|[a-z]){0,12}",
        ("[a-z]", 0usize..5000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// Any JSON value, nested up to a few levels, with hostile strings and keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((hostile_string(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The value `to_proto_value` then `from_proto_value` must give back: proto numbers are f64,
/// so integers outside ±2^53 lose precision and non-finite numbers cannot occur in JSON.
fn representable(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_i64().is_none_or(|i| i.unsigned_abs() <= 1 << 53),
        Value::Array(a) => a.iter().all(representable),
        Value::Object(m) => m.values().all(representable),
        _ => true,
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| numbers_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| numbers_equal(a, b)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any string: validation never panics; a refusal names the field it was given; a name
    /// that parses displays as itself, and is a safe path component.
    #[test]
    fn resource_names_parse_or_name_the_field(s in hostile_string(), field in "[a-z_.\\[\\]0-9]{1,20}") {
        match ResourceName::parse(&field, &s) {
            Ok(name) => {
                prop_assert_eq!(name.to_string(), s.clone());
                prop_assert_eq!(name.as_str(), s.as_str());
                prop_assert!(!s.is_empty() && s.len() <= MAX_NAME_LEN);
                prop_assert!(!s.contains('/') && !s.contains('\\') && !s.contains(".."));
                prop_assert!(!s.chars().any(char::is_control));
                prop_assert!(s != "." && s != "..");
                // The serde form is the same check.
                let back: ResourceName = serde_json::from_value(json!(s)).unwrap();
                prop_assert_eq!(back, name);
            }
            Err(e) => {
                prop_assert_eq!(e.field, field);
                prop_assert!(!e.reason.is_empty());
                prop_assert!(validate_name("x", &s).is_err());
            }
        }
    }

    /// Names drawn from the documented alphabet parse and round-trip through Display.
    #[test]
    fn documented_names_round_trip(s in "[A-Za-z0-9][A-Za-z0-9_-]{0,62}") {
        let name = ResourceName::parse("name", &s).unwrap();
        prop_assert_eq!(name.to_string(), s);
    }

    /// JSON -> protobuf `Value` -> JSON gives the same value (numbers compared as f64).
    #[test]
    fn json_proto_values_round_trip(v in json_value()) {
        let back = from_proto_value(&to_proto_value(&v));
        if representable(&v) {
            prop_assert!(numbers_equal(&v, &back), "{v} became {back}");
        }
    }
}

/// One element of a program's argument vector in a generated template.
#[derive(Debug, Clone)]
enum Arg {
    /// A literal that is never a shell program nor a `-c` flag.
    Literal(String),
    /// `${vN}`: the whole element is the value.
    Whole(usize),
    /// `pre${vN}post`: the value's text inside a literal.
    Embedded(String, usize, String),
}

const VARS: usize = 4;

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        "x[a-z0-9 =./-]{0,12}".prop_map(Arg::Literal),
        (0..VARS).prop_map(Arg::Whole),
        ("x[a-z0-9 =./-]{0,6}", 0..VARS, "[a-z0-9 =./-]{0,6}")
            .prop_map(|(a, i, b)| Arg::Embedded(a, i, b)),
    ]
}

fn template_text(a: &Arg) -> String {
    match a {
        Arg::Literal(s) => s.clone(),
        Arg::Whole(i) => format!("${{v{i}}}"),
        Arg::Embedded(a, i, b) => format!("{a}${{v{i}}}{b}"),
    }
}

/// Characteristic values as an order may carry them: anything, including text that looks like
/// placeholders, shell syntax, flags and shell programs.
fn var_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => any::<String>().prop_map(Value::String),
        2 => prop_oneof![
            Just("${v0}"), Just("$${v1}"), Just("$(id)"), Just("a b;c|d&e"), Just("-c"),
            Just("sh"), Just("/bin/bash"), Just("'\"`"), Just("\n"), Just("\0"), Just(""),
        ].prop_map(|s| Value::String(s.to_string())),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => json_value(),
    ]
}

/// What the renderer must give for one element: the value itself for a whole placeholder, its
/// text inside the literal otherwise; `None` when the value cannot be one argument.
fn expected(a: &Arg, vars: &[Value]) -> Option<Value> {
    let text = |v: &Value| -> Option<String> {
        let t = match v {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            _ => return None,
        };
        (!t.contains('\0')).then_some(t)
    };
    match a {
        Arg::Literal(s) => Some(Value::String(s.clone())),
        Arg::Whole(i) => text(&vars[*i]).map(|_| vars[*i].clone()),
        Arg::Embedded(pre, i, post) => {
            text(&vars[*i]).map(|t| Value::String(format!("{pre}{t}{post}")))
        }
    }
}

fn blueprint(command: &[Arg], args: &[Arg], env: &[(String, Arg)]) -> Value {
    json!({
        "kind": "ProcessDeployment",
        "metadata": {"name": "web"},
        "spec": {
            "command": command.iter().map(template_text).collect::<Vec<_>>(),
            "args": args.iter().map(template_text).collect::<Vec<_>>(),
            "env": env.iter().map(|(k, a)| (k.clone(), Value::String(template_text(a))))
                .collect::<Map<_, _>>(),
        }
    })
}

fn vars_map(vars: &[Value]) -> Map<String, Value> {
    vars.iter()
        .enumerate()
        .map(|(i, v)| (format!("v{i}"), v.clone()))
        .collect()
}

fn argv_of(rendered: &Value) -> Vec<Value> {
    let spec = &rendered["spec"];
    let mut argv = spec["command"].as_array().cloned().unwrap_or_default();
    argv.extend(spec["args"].as_array().cloned().unwrap_or_default());
    argv
}

/// Reads one POSIX shell word made only of single-quoted runs and `\'` (what `quote` writes).
fn unquote(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else {
            let r = rest.strip_prefix('\'')?;
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

proptest! {
    #![proptest_config(config())]

    /// A rendered program has exactly the template's argument count; every element is the
    /// literal, the value, or the value's text in the literal (never split, never re-read as a
    /// template); a value that cannot be one argument, or that makes the program a shell
    /// script, is refused with the element's path.
    #[test]
    fn rendering_never_adds_arguments_nor_interprets_values(
        command in prop::collection::vec(arg(), 1..4),
        args in prop::collection::vec(arg(), 0..6),
        env in prop::collection::btree_map("[A-Z]{1,6}", arg(), 0..3),
        vars in prop::collection::vec(var_value(), VARS),
    ) {
        let env: Vec<(String, Arg)> = env.into_iter().collect();
        let template = blueprint(&command, &args, &env);
        let result = render_blueprint("blueprints[0]", &template, &vars_map(&vars));
        let all: Vec<&Arg> = command.iter().chain(&args).collect();
        let want: Option<Vec<Value>> = all.iter().map(|a| expected(a, &vars)).collect();
        let env_ok = env.iter().all(|(_, a)| expected(a, &vars).is_some());
        // The program's string elements, as the renderer reads them after rendering.
        let texts: Option<Vec<String>> = want
            .as_ref()
            .map(|w| w.iter().filter_map(Value::as_str).map(str::to_string).collect());
        let runs_shell = texts.as_ref().is_some_and(|t| script_index(t).is_some());
        match result {
            Ok(rendered) => {
                let want = want.expect("rendered although a value cannot be one argument");
                prop_assert!(env_ok);
                prop_assert!(!runs_shell);
                let argv = argv_of(&rendered);
                prop_assert_eq!(argv.len(), all.len());
                prop_assert_eq!(argv, want);
                for (k, a) in &env {
                    prop_assert_eq!(
                        Some(rendered["spec"]["env"][k].clone()),
                        expected(a, &vars)
                    );
                }
            }
            Err(e) => {
                prop_assert!(want.is_none() || !env_ok || runs_shell
                    || texts.iter().flatten().any(|t| t.len() > MAX_RENDERED_STRING),
                    "refused a renderable template: {e}");
                prop_assert!(e.field.starts_with("blueprints[0]"), "{e}");
                prop_assert!(!e.reason.is_empty());
            }
        }
    }

    /// Changing one byte of one value changes only the elements that use that value.
    #[test]
    fn a_changed_value_changes_only_its_own_elements(
        args in prop::collection::vec(arg(), 1..6),
        base in prop::collection::vec("v[a-z0-9 ./=-]{0,15}", VARS),
        which in 0..VARS,
        pos in any::<prop::sample::Index>(),
        byte in "[a-z0-9 ;|&$(){}'\"`]",
    ) {
        let vars: Vec<Value> = base.iter().cloned().map(Value::String).collect();
        let mut changed = vars.clone();
        let s = &base[which];
        let at = pos.index(s.len());
        changed[which] = Value::String(format!("{}{}{}", &s[..at], byte, &s[at + 1..]));
        let command = [Arg::Literal("x/bin/prog".into())];
        let template = blueprint(&command, &args, &[]);
        let a = render_blueprint("t", &template, &vars_map(&vars)).unwrap();
        let b = render_blueprint("t", &template, &vars_map(&changed)).unwrap();
        let (a, b) = (argv_of(&a), argv_of(&b));
        prop_assert_eq!(a.len(), b.len());
        for (i, arg) in command.iter().chain(&args).enumerate() {
            let uses = matches!(arg, Arg::Whole(v) | Arg::Embedded(_, v, _) if *v == which);
            if !uses {
                prop_assert_eq!(&a[i], &b[i]);
            } else if changed[which] != vars[which] {
                prop_assert_ne!(&a[i], &b[i]);
            }
        }
    }

    /// In a declared shell script each value is one shell word that reads back as the value.
    #[test]
    fn script_values_are_one_quoted_word(
        v0 in "[^\\x00]{0,40}",
        v1 in prop_oneof![Just("'; rm -rf / #".to_string()), "[^\\x00]{0,40}"],
    ) {
        let template = json!({
            "kind": "K", "metadata": {"name": "n"}, "shell": true,
            "spec": {"command": ["/bin/sh", "-c", "echo ${v0} x ${v1}"]}
        });
        let vars = vars_map(&[json!(v0), json!(v1)]);
        let rendered = render_blueprint("t", &template, &vars).unwrap();
        let argv = argv_of(&rendered);
        prop_assert_eq!(argv.len(), 3);
        let script = argv[2].as_str().unwrap();
        prop_assert_eq!(script, format!("echo {} x {}", quote(&v0), quote(&v1)));
        prop_assert_eq!(unquote(&quote(&v0)), Some(v0.clone()));
        prop_assert_eq!(unquote(&quote(&v1)), Some(v1.clone()));
    }
}
