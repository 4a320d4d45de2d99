//! Field-level differences between two JSON documents, for plans: each leaf that was added,
//! removed or changed, by its path (`spec.replicas`, `spec.args[1]`,
//! `metadata.annotations["maestro.io/x"]`). Objects are compared key by key; arrays element by
//! element (a longer or shorter array shows the extra elements as added or removed).

use serde_json::Value;

/// One difference: the value before and after (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Where.
    pub path: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
}

/// Most changes reported for one pair of documents (a whole new tree is one change).
pub const MAX_CHANGES: usize = 256;

/// The differences from `before` to `after`: keys of `after` first (in its order), then keys
/// only `before` has.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out.truncate(MAX_CHANGES);
    out
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::String(key.to_string())),
    }
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    if out.len() >= MAX_CHANGES || before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, av) in a {
                let p = key_path(path, k);
                match b.get(k) {
                    Some(bv) => walk(&p, bv, av, out),
                    None => out.push(FieldChange {
                        path: p,
                        before: None,
                        after: Some(av.clone()),
                    }),
                }
            }
            for (k, bv) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(FieldChange {
                    path: key_path(path, k),
                    before: Some(bv.clone()),
                    after: None,
                });
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (b.get(i), a.get(i)) {
                    (Some(bv), Some(av)) => walk(&p, bv, av, out),
                    (bv, av) => out.push(FieldChange {
                        path: p,
                        before: bv.cloned(),
                        after: av.cloned(),
                    }),
                }
            }
        }
        _ => out.push(FieldChange {
            path: path.to_string(),
            before: Some(before.clone()),
            after: Some(after.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_reported_by_path() {
        let before = json!({"spec": {"replicas": 1, "args": ["-c", "a"], "env": {"A": "1"}},
                            "metadata": {"annotations": {"maestro.io/x": "1"}}});
        let after = json!({"spec": {"replicas": 2, "args": ["-c", "b", "c"], "env": {}},
                           "metadata": {"annotations": {"maestro.io/x": "2"}}});
        let d = diff(&before, &after);
        let mut paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "metadata.annotations[\"maestro.io/x\"]",
                "spec.args[1]",
                "spec.args[2]",
                "spec.env.A",
                "spec.replicas",
            ]
        );
        let at = |p: &str| d.iter().find(|c| c.path == p).unwrap();
        assert_eq!(at("spec.replicas").before, Some(json!(1)));
        assert_eq!(at("spec.replicas").after, Some(json!(2)));
        assert_eq!(at("spec.args[2]").before, None, "added");
        assert_eq!(at("spec.env.A").after, None, "removed");
        assert!(diff(&after, &after).is_empty());
        assert_eq!(diff(&json!(1), &json!("1"))[0].path, "", "the root itself");
    }
}
