//! The demo spec of `examples/catalog` run with hostile messages: each value is printed as
//! text and never runs. The rendered process runs for real (`sleep` is a no-op here).

use maestro::catalog::Catalog;
use maestro_common::template;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::process::Command;

const HOSTILE: [&str; 12] = [
    "x; echo injected-by-$(id -un) > injected",
    "a | tee injected",
    "$(touch injected)",
    "`touch injected`",
    "> injected",
    "* ~ $HOME",
    "it's '; touch injected; '",
    "\"; touch injected; \"",
    "tab\tand unicode: héllo 世界",
    "-n",
    "%s %d \\n",
    "",
];

fn demo_template() -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/catalog");
    let catalog = Catalog::load(&dir).unwrap();
    catalog.get("demo-app").unwrap().blueprints[0].clone()
}

fn vars(message: &str) -> Map<String, Value> {
    json!({"message": message, "replicas": 1, "service": "demo", "site": "s1",
           "domain": "north", "intent": "i", "generation": 1})
    .as_object()
    .unwrap()
    .clone()
}

/// Runs the rendered process in `dir` with a PATH whose `sleep` returns at once.
fn run(spec: &Value, dir: &Path) -> String {
    let bin = dir.join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/true", bin.join("sleep")).unwrap();
    let args: Vec<&str> = spec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut cmd = Command::new(spec["command"].as_str().unwrap());
    cmd.args(&args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", &bin);
    for (k, v) in spec["env"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_demo_prints_hostile_messages_as_text_and_runs_none() {
    let t = demo_template();
    for message in HOSTILE {
        let dir = tempfile::tempdir().unwrap();
        let rendered = template::render_blueprint("blueprints[0]", &t, &vars(message)).unwrap();
        let spec = &rendered["spec"];
        assert_eq!(run(spec, dir.path()), format!("{message}\n"), "{message:?}");
        assert!(
            !dir.path().join("injected").exists(),
            "{message:?} ran as code"
        );
        assert_eq!(spec["env"]["DEMO_MESSAGE"], message);
    }
}

#[test]
fn the_demo_refuses_a_message_with_a_nul_byte() {
    let e =
        template::render_blueprint("blueprints[0]", &demo_template(), &vars("a\0b")).unwrap_err();
    assert_eq!(e.field, "blueprints[0].spec.args[1]");
    assert!(e.reason.contains("'message' contains a NUL byte"), "{e}");
}
