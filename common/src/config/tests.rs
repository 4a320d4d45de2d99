use super::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Cfg {
    listen: String,
    retries: u32,
    region: String,
    verbose: bool,
    docker: Docker,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Docker {
    socket: String,
    max: u32,
}

impl Default for Cfg {
    fn default() -> Self {
        Self {
            listen: "default".into(),
            retries: 1,
            region: "default".into(),
            verbose: false,
            docker: Docker::default(),
            labels: BTreeMap::new(),
        }
    }
}

impl Default for Docker {
    fn default() -> Self {
        Self {
            socket: "/var/run/docker.sock".into(),
            max: 4,
        }
    }
}

impl Validate for Cfg {
    fn validate(&self) -> Result<(), FieldError> {
        if self.retries == 0 {
            return Err(FieldError::new("retries", "must be greater than 0"));
        }
        Ok(())
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn each_layer_overrides_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(
        &dir,
        "c.toml",
        "listen = \"file\"\nretries = 2\nregion = \"file\"\nverbose = true\n",
    );
    let sources = Sources {
        file: Some(f),
        env: env(&[
            ("MAESTRO_RETRIES", "5"),
            ("MAESTRO_REGION", "env"),
            ("OTHER", "x"),
        ]),
        flags: Flags::new()
            .set("region", Some("flag"))
            .set::<u32>("retries", None),
    };
    let c: Cfg = load(&sources).unwrap();
    // default < file < env < flag, key by key; an unset flag overrides nothing.
    assert_eq!(c.listen, "file");
    assert_eq!(c.retries, 5);
    assert_eq!(c.region, "flag");
    assert!(c.verbose);
    assert_eq!(c.docker, Docker::default());
    let c: Cfg = load(&Sources::default()).unwrap();
    assert_eq!(c, Cfg::default());
}

#[test]
fn yaml_and_json_files_are_chosen_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let y = file(&dir, "c.yaml", "retries: 3\ndocker:\n  max: 9\n");
    let j = file(
        &dir,
        "c.json",
        r#"{"retries": 4, "labels": {"tier": "edge"}}"#,
    );
    let c: Cfg = load(&Sources {
        file: Some(y),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!((c.retries, c.docker.max), (3, 9));
    let c: Cfg = load(&Sources {
        file: Some(j),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(c.retries, 4);
    assert_eq!(c.labels.get("tier").map(String::as_str), Some("edge"));
}

#[test]
fn nested_environment_keys_use_double_underscores() {
    let sources = Sources {
        env: env(&[
            ("MAESTRO_DOCKER__SOCKET", "/run/d.sock"),
            ("MAESTRO_DOCKER__MAX", "7"),
            ("MAESTRO_LABELS__TIER", "edge"),
            // A string key takes the raw text even when it looks like a number.
            ("MAESTRO_REGION", "123"),
        ]),
        ..Sources::default()
    };
    let c: Cfg = load(&sources).unwrap();
    assert_eq!(c.docker.socket, "/run/d.sock");
    assert_eq!(c.docker.max, 7);
    assert_eq!(c.labels.get("tier").map(String::as_str), Some("edge"));
    assert_eq!(c.region, "123");
}

#[test]
fn unknown_file_key_is_rejected_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(&dir, "c.yaml", "listen: a\nlisen: b\n");
    let e = load::<Cfg>(&Sources {
        file: Some(f.clone()),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("lisen"), "{e}");
    assert!(e.to_string().contains(&f.display().to_string()), "{e}");
    let f = file(&dir, "n.toml", "[docker]\nsokcet = \"x\"\n");
    let e = load::<Cfg>(&Sources {
        file: Some(f),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("docker.sokcet"), "{e}");
}

#[test]
fn unknown_nested_env_key_is_rejected_naming_the_variable() {
    let e = load::<Cfg>(&Sources {
        env: env(&[("MAESTRO_DOCKER__SOKCET", "x")]),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("docker.sokcet"), "{e}");
    assert!(e.to_string().contains("MAESTRO_DOCKER__SOKCET"), "{e}");
    // Unknown top-level names belong to other tools sharing the prefix and are ignored.
    let c: Cfg = load(&Sources {
        env: env(&[("MAESTRO_ADDR", "http://x"), ("MAESTRO_OUTPUT", "json")]),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(c, Cfg::default());
}

#[test]
fn wrong_types_name_the_key_and_the_layer() {
    let e = load::<Cfg>(&Sources {
        env: env(&[("MAESTRO_RETRIES", "many")]),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("retries"), "{e}");
    assert!(e.to_string().contains("MAESTRO_RETRIES"), "{e}");
    let e = load::<Cfg>(&Sources {
        flags: Flags::new().set("retries", Some("x")),
        ..Sources::default()
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("retries"), "{e}");
    assert!(e.to_string().contains("flag --retries"), "{e}");
}

#[test]
fn missing_or_malformed_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = load::<Cfg>(&Sources {
        file: Some(dir.path().join("none.toml")),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    let f = file(&dir, "bad.toml", "listen = \n");
    let e = load::<Cfg>(&Sources {
        file: Some(f.clone()),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains(&f.display().to_string()), "{e}");
    let empty = file(&dir, "empty.yaml", "\n");
    let c: Cfg = load(&Sources {
        file: Some(empty),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(c, Cfg::default());
}

#[test]
fn validation_failures_name_the_field() {
    let e = load_validated::<Cfg>(&Sources {
        env: env(&[("MAESTRO_RETRIES", "0")]),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(e, ConfigError::Rejected(_)), "{e}");
    assert_eq!(e.field(), Some("retries"));
    assert_eq!(e.to_string(), "retries: must be greater than 0");
}
