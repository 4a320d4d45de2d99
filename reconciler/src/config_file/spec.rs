//! The `ConfigFile` spec: which files, with what content and mode, under the managed directory.

use std::collections::BTreeSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Kind handled by the config file reconciler.
pub const KIND: &str = "ConfigFile";
/// Executor type of the config file reconciler.
pub const EXECUTOR_TYPE: &str = "config-file-reconciler";

/// Most files one blueprint may hold.
pub const MAX_FILES: usize = 256;
/// Largest content of one file.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Largest content of all files of one blueprint.
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// Deepest relative path (components).
pub const MAX_DEPTH: usize = 8;
/// Mode of a file whose spec sets none.
pub const DEFAULT_MODE: u32 = 0o644;

/// One desired file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Path relative to the managed directory; every component a validated name.
    pub path: String,
    /// Content.
    pub content: String,
    /// Permission bits (at most `0o777`: never setuid, setgid or sticky).
    pub mode: u32,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Validates a relative path: 1..=[`MAX_DEPTH`] components separated by `/`, each a name as
/// Maestro validates names (so no `..`, no absolute path, no control characters).
pub fn validate_path(field: &str, path: &str) -> Result<(), String> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > MAX_DEPTH {
        return Err(format!("{field}: deeper than {MAX_DEPTH} components"));
    }
    for part in parts {
        maestro_common::names::validate_name(field, part).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn parse_mode(field: &str, v: Option<&Value>) -> Result<u32, String> {
    let mode = match v {
        None | Some(Value::Null) => return Ok(DEFAULT_MODE),
        Some(Value::String(s)) => {
            let digits = s.trim_start_matches("0o");
            if digits.is_empty() || digits.len() > 4 {
                return Err(format!("{field}: {s:?} is not an octal mode like \"0640\""));
            }
            u32::from_str_radix(digits, 8)
                .map_err(|_| format!("{field}: {s:?} is not an octal mode like \"0640\""))?
        }
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{field}: {n} is not a mode"))?,
        Some(_) => return Err(format!("{field}: must be an octal string like \"0640\"")),
    };
    if mode > 0o777 {
        return Err(format!(
            "{field}: {mode:o} sets setuid, setgid or sticky bits; only 0..0777 allowed"
        ));
    }
    Ok(mode)
}

/// Validates a blueprint spec `{files: [{path, content, mode?}]}`; the error names the field.
pub fn parse(spec: &Value) -> Result<Vec<FileSpec>, String> {
    let obj = spec.as_object().ok_or("spec: not an object")?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "files") {
        return Err(format!("spec.{k}: unknown field"));
    }
    let files = obj
        .get("files")
        .and_then(Value::as_array)
        .ok_or("spec.files: required, a list")?;
    if files.len() > MAX_FILES {
        return Err(format!("spec.files: more than {MAX_FILES} files"));
    }
    let mut out = Vec::with_capacity(files.len());
    let mut seen = BTreeSet::new();
    let mut total = 0usize;
    for (i, f) in files.iter().enumerate() {
        let field = format!("spec.files[{i}]");
        let f = f.as_object().ok_or(format!("{field}: not an object"))?;
        if let Some(k) = f
            .keys()
            .find(|k| !matches!(k.as_str(), "path" | "content" | "mode"))
        {
            return Err(format!("{field}.{k}: unknown field"));
        }
        let path = f
            .get("path")
            .and_then(Value::as_str)
            .ok_or(format!("{field}.path: required, a string"))?;
        validate_path(&format!("{field}.path"), path)?;
        if !seen.insert(path.to_string()) {
            return Err(format!("{field}.path: {path:?} appears twice"));
        }
        let content = f
            .get("content")
            .and_then(Value::as_str)
            .ok_or(format!("{field}.content: required, a string"))?;
        if content.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{field}.content: larger than {MAX_FILE_BYTES} bytes"
            ));
        }
        total += content.len();
        if total > MAX_TOTAL_BYTES {
            return Err(format!(
                "spec.files: more than {MAX_TOTAL_BYTES} bytes in all"
            ));
        }
        out.push(FileSpec {
            path: path.to_string(),
            content: content.to_string(),
            mode: parse_mode(&format!("{field}.mode"), f.get("mode"))?,
            sha256: sha256_hex(content.as_bytes()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_valid_spec_parses_with_defaults_and_hashes() {
        let files = parse(&json!({"files": [
            {"path": "gw/app.conf", "content": "a=1\n", "mode": "0640"},
            {"path": "motd", "content": ""}
        ]}))
        .unwrap();
        assert_eq!(files[0].mode, 0o640);
        assert_eq!(files[1].mode, DEFAULT_MODE);
        assert_eq!(
            files[1].sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn escapes_and_bad_values_are_refused_naming_the_field() {
        let bad = |spec: Value, needle: &str| {
            let e = parse(&spec).unwrap_err();
            assert!(e.contains(needle), "{e} should contain {needle}");
        };
        bad(
            json!({"files": [{"path": "../etc/passwd", "content": ""}]}),
            "spec.files[0].path",
        );
        bad(
            json!({"files": [{"path": "/etc/passwd", "content": ""}]}),
            "spec.files[0].path",
        );
        bad(
            json!({"files": [{"path": "a//b", "content": ""}]}),
            "spec.files[0].path",
        );
        bad(
            json!({"files": [{"path": "a/\u{1b}x", "content": ""}]}),
            "spec.files[0].path",
        );
        bad(
            json!({"files": [{"path": "a", "content": "", "mode": "4755"}]}),
            "setuid",
        );
        bad(
            json!({"files": [{"path": "a", "content": "", "mode": "rw"}]}),
            "spec.files[0].mode",
        );
        bad(
            json!({"files": [{"path": "a", "content": ""}, {"path": "a", "content": ""}]}),
            "twice",
        );
        bad(json!({"files": [{"path": "a"}]}), "spec.files[0].content");
        bad(
            json!({"files": [{"path": "a", "content": "", "owner": "root"}]}),
            "spec.files[0].owner",
        );
        bad(
            json!({"files": [{"path": "a/b/c/d/e/f/g/h/i", "content": ""}]}),
            "deeper",
        );
        bad(json!({"file": []}), "spec.file");
        bad(json!({}), "spec.files");
        let big = "x".repeat(MAX_FILE_BYTES + 1);
        bad(
            json!({"files": [{"path": "a", "content": big}]}),
            "larger than",
        );
    }
}
