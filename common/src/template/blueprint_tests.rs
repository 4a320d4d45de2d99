use super::*;
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// Values an orderer could send to run something: each must end as one literal argument.
const HOSTILE: [&str; 20] = [
    "x; echo injected > injected",
    "a | tee injected",
    "a && touch injected & wait",
    "$(touch injected)",
    "`touch injected`",
    "> injected",
    "< /etc/hostname",
    "*",
    "~",
    "~/x $HOME ${HOME}",
    "it's '; touch injected; '",
    "say \"hi\" \"; touch injected; \"",
    "line one\ntouch injected\nline three",
    "tab\there",
    "héllo — 世界 🚀",
    "\\'\\\\",
    "-n",
    "--help",
    "${service}",
    "",
];

fn vars(message: &str) -> Map<String, Value> {
    json!({"message": message, "service": "demo", "count": 3, "list": ["a", "b"]})
        .as_object()
        .unwrap()
        .clone()
}

fn process(spec: Value) -> Value {
    json!({"kind": "ProcessDeployment", "metadata": {"name": "${service}"}, "spec": spec})
}

/// Runs the rendered `spec` (command, args, env) in an empty directory and returns its stdout
/// and whether the directory is still empty.
fn run(spec: &Value, dir: &Path) -> (String, bool) {
    let argv: Vec<String> = std::iter::once(&spec["command"])
        .chain(spec["args"].as_array().unwrap())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).current_dir(dir).env_clear();
    for (k, v) in spec["env"].as_object().into_iter().flatten() {
        cmd.env(k, v.as_str().unwrap());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{argv:?}: {out:?}");
    let empty = std::fs::read_dir(dir).unwrap().next().is_none();
    (String::from_utf8(out.stdout).unwrap(), empty)
}

#[test]
fn a_shell_scripts_values_are_quoted_and_run_as_text() {
    let t = json!({"kind": "ProcessDeployment", "shell": true, "metadata": {"name": "${service}"},
        "spec": {"command": "/bin/sh", "args": ["-c", "printf '%s' ${message}"],
                 "env": {"MESSAGE": "${message}"}}});
    for value in HOSTILE {
        let dir = tempfile::tempdir().unwrap();
        let r = render_blueprint("b", &t, &vars(value)).unwrap();
        assert!(
            r.get(SHELL_KEY).is_none(),
            "the declaration is not rendered"
        );
        let (stdout, empty) = run(&r["spec"], dir.path());
        assert_eq!(stdout, value, "{value:?}");
        assert!(empty, "{value:?} created a file");
        assert_eq!(r["spec"]["env"]["MESSAGE"], value);
    }
}

#[test]
fn the_harness_sees_an_injection_when_values_are_pasted_into_a_script() {
    // Plain rendering pastes the value into the script as text, as templates did before: the
    // value runs. The tests above would fail the same way if quoting were lost.
    let t = process(json!({"command": "/bin/sh", "args": ["-c", "printf '%s' ${message}"]}));
    let dir = tempfile::tempdir().unwrap();
    let pasted = super::super::render("b", &t, &vars("x; echo injected > injected")).unwrap();
    let (stdout, empty) = run(&pasted["spec"], dir.path());
    assert_eq!((stdout.as_str(), empty), ("x", false));
    assert!(dir.path().join("injected").exists());
}

#[test]
fn without_a_shell_each_value_is_one_literal_argument() {
    let t = process(
        json!({"command": "/usr/bin/printf", "args": ["[%s]", "${message}", "x${message}"]}),
    );
    for value in HOSTILE {
        let dir = tempfile::tempdir().unwrap();
        let r = render_blueprint("b", &t, &vars(value)).unwrap();
        assert_eq!(r["spec"]["args"].as_array().unwrap().len(), 3, "{value:?}");
        let (stdout, empty) = run(&r["spec"], dir.path());
        assert_eq!(stdout, format!("[{value}][x{value}]"), "{value:?}");
        assert!(empty, "{value:?} created a file");
    }
}

#[test]
fn positional_arguments_of_a_declared_shell_stay_literal() {
    let t = json!({"kind": "K", "shell": true, "metadata": {"name": "n"},
        "spec": {"command": "/bin/sh", "args": ["-c", "printf '%s' \"$1\"", "sh", "${message}"]}});
    for value in HOSTILE {
        let dir = tempfile::tempdir().unwrap();
        let r = render_blueprint("b", &t, &vars(value)).unwrap();
        let (stdout, empty) = run(&r["spec"], dir.path());
        assert_eq!((stdout.as_str(), empty), (value, true), "{value:?}");
    }
}

#[test]
fn a_shell_script_needs_the_declaration() {
    // What the demo spec used to be: without the declaration the value would be code.
    let demo =
        process(json!({"command": "/bin/sh", "args": ["-c", "echo ${message}; exec sleep 86400"]}));
    let e = render_blueprint("blueprints[0]", &demo, &vars("x")).unwrap_err();
    assert_eq!(e.field, "blueprints[0].spec.args[1]");
    assert!(e.reason.contains("shell: true"), "{e}");
    assert_eq!(check_blueprint("blueprints[0]", &demo), Err(e));
    // Containers: the script after a command list, through env or busybox.
    for spec in [
        json!({"instances": [{"command": ["/bin/sh", "-c"], "args": ["echo ${message}"]}]}),
        json!({"command": "/usr/bin/env", "args": ["bash", "-ec", "true"]}),
        json!({"command": "busybox", "args": ["sh", "-c", "true"]}),
    ] {
        assert!(
            check_blueprint("b", &process(spec.clone())).is_err(),
            "{spec}"
        );
    }
}

#[test]
fn the_declaration_is_checked() {
    let no_script = json!({"kind": "K", "shell": true, "metadata": {"name": "n"},
        "spec": {"command": "/bin/echo", "args": ["${message}"]}});
    assert_eq!(
        check_blueprint("b", &no_script).unwrap_err().field,
        "b.shell"
    );
    let not_bool = json!({"kind": "K", "shell": "yes", "metadata": {"name": "n"}});
    assert_eq!(
        check_blueprint("b", &not_bool).unwrap_err().field,
        "b.shell"
    );
    let script_from_value = json!({"kind": "K", "shell": true, "metadata": {"name": "n"},
        "spec": {"command": "/bin/sh", "args": ["-c", "${message}"]}});
    let e = render_blueprint("b", &script_from_value, &vars("id")).unwrap_err();
    assert_eq!(e.field, "b.spec.args[1]");
    assert!(check_blueprint("b", &script_from_value).is_err());
}

#[test]
fn a_placeholder_never_splits_into_several_arguments() {
    let whole_list = process(json!({"command": "/bin/echo", "args": "${list}"}));
    assert_eq!(
        check_blueprint("b", &whole_list).unwrap_err().field,
        "b.spec.args"
    );
    for args in [json!(["${list}"]), json!(["x${list}"])] {
        let t = process(json!({"command": "/bin/echo", "args": args}));
        let e = render_blueprint("b", &t, &vars("m")).unwrap_err();
        assert_eq!(e.field, "b.spec.args[0]");
        assert!(e.reason.contains("'list' is an array"), "{e}");
    }
    let env = process(json!({"command": "/bin/echo", "env": {"L": "${list}"}}));
    assert_eq!(
        render_blueprint("b", &env, &vars("m")).unwrap_err().field,
        "b.spec.env.L"
    );
    // A number stays a number: one argument all the same.
    let n = process(json!({"command": "/bin/echo", "args": ["${count}", "-n${count}"]}));
    assert_eq!(
        render_blueprint("b", &n, &vars("m")).unwrap()["spec"]["args"],
        json!([3, "-n3"])
    );
}

#[test]
fn a_nul_byte_is_refused_naming_the_field() {
    let t = json!({"kind": "K", "shell": true, "metadata": {"name": "n"},
        "spec": {"command": "/bin/sh", "args": ["-c", "echo ${message}", "${message}"],
                 "env": {"M": "${message}"}}});
    for (path, spec) in [
        ("b.spec.args[1]", t.clone()),
        (
            "b.spec.args[0]",
            process(json!({"command": "/bin/echo", "args": ["${message}"]})),
        ),
        (
            "b.spec.env.M",
            process(json!({"command": "/bin/echo", "env": {"M": "a${message}"}})),
        ),
    ] {
        let e = render_blueprint("b", &spec, &vars("a\0b")).unwrap_err();
        assert_eq!(e.field, path);
        assert!(e.reason.contains("NUL"), "{e}");
    }
    // Outside a program a value is data: a config file's content may hold anything.
    let file = json!({"kind": "ConfigFile", "metadata": {"name": "n"},
        "spec": {"files": [{"path": "a", "content": "m=${message}"}]}});
    assert_eq!(
        render_blueprint("b", &file, &vars("a;b")).unwrap()["spec"]["files"][0]["content"],
        "m=a;b"
    );
}

#[test]
fn a_value_cannot_make_a_program_a_shell() {
    let t = process(json!({"command": "${message}", "args": ["-c", "echo ${service}"]}));
    assert!(check_blueprint("b", &t).is_ok());
    let e = render_blueprint("b", &t, &vars("/bin/sh")).unwrap_err();
    assert_eq!(e.field, "b.spec.args[1]");
    assert!(
        e.reason.contains("a value made this program run a shell"),
        "{e}"
    );
    assert!(render_blueprint("b", &t, &vars("/bin/echo")).is_ok());
}

#[test]
fn an_interpreters_inline_code_takes_no_value_but_its_arguments_do() {
    for spec in [
        json!({"command": "python3", "args": ["-c", "print('${message}')"]}),
        json!({"command": "/usr/bin/env", "args": ["perl", "-e", "print \"${message}\""]}),
        json!({"command": "awk", "args": ["-F", ":", "{print \"${message}\"}", "/etc/passwd"]}),
        json!({"instances": [{"command": ["node", "--eval"], "args": ["console.log(${count})"]}]}),
    ] {
        let e = check_blueprint("b", &process(spec.clone())).unwrap_err();
        assert!(e.reason.contains("a value is never code"), "{spec}: {e}");
        // Even declaring a shell does not allow it: its quoting is not the language's.
        let mut declared = process(spec.clone());
        declared["shell"] = json!(true);
        assert!(check_blueprint("b", &declared).is_err(), "{spec}");
    }
    let e = check_blueprint(
        "blueprints[0]",
        &process(json!({"command": "python3", "args": ["-c", "print('${message}')"]})),
    )
    .unwrap_err();
    assert_eq!(e.field, "blueprints[0].spec.args[1]");
    // The value as an argument of its own, the code literal: each hostile value is printed as
    // text by a real interpreter (awk is in every base system) and nothing else happens.
    let spec = json!({"command": "awk", "args": ["BEGIN { print ARGV[1] }", "${message}"]});
    for value in HOSTILE {
        let rendered = render_blueprint("b", &process(spec.clone()), &vars(value)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (out, empty) = run(&rendered["spec"], dir.path());
        assert_eq!(
            out.trim_end_matches('\n'),
            value.trim_end_matches('\n'),
            "{value:?}"
        );
        assert!(empty, "{value:?} left a file");
    }
}
