//! Container labels and names.

/// `true` on every container the reconciler manages.
pub const MANAGED: &str = "colonies.managed";
/// Blueprint name.
pub const BLUEPRINT: &str = "colonies.blueprint";
/// `metadata.generation` of the blueprint the container was created from.
pub const GENERATION: &str = "colonies.generation";
/// Colony name.
pub const COLONY: &str = "colonies.colony";
/// Blueprint kind (`DockerDeployment` or `ExecutorDeployment`).
pub const KIND: &str = "colonies.kind";
/// Instance name inside the blueprint (empty for `ExecutorDeployment`).
pub const INSTANCE: &str = "colonies.instance";
/// Replica index (0-based).
pub const REPLICA: &str = "colonies.replica";
/// Declared ports, `host:container/protocol` comma-separated (informational with host networking).
pub const PORTS: &str = "colonies.ports";
/// What the container runs, as a hash of its desired configuration without the generation (see
/// [`crate::spec::DesiredContainer::template`]): a container with the desired template is kept
/// when only the generation changed (e.g. `replicas`).
pub const TEMPLATE: &str = "maestro.template";

/// Longest container name produced.
const MAX_NAME: usize = 128;

/// The container name of `replica` of `instance` (None for `ExecutorDeployment`) of `blueprint`:
/// `<blueprint>-<instance>-<replica>` or `<blueprint>-<replica>`, made a valid Docker name
/// (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`: other characters become `-`).
pub fn container_name(blueprint: &str, instance: Option<&str>, replica: u32) -> String {
    let raw = match instance {
        Some(i) => format!("{blueprint}-{i}-{replica}"),
        None => format!("{blueprint}-{replica}"),
    };
    sanitize(&raw)
}

fn sanitize(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        out.insert(0, 'c');
    }
    if out.len() > MAX_NAME {
        // Keep the replica suffix distinct: cut the front part, not the end.
        out = out.split_off(out.len() - MAX_NAME);
        out.replace_range(0..1, "c");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_docker_names() {
        assert_eq!(container_name("web", Some("api"), 0), "web-api-0");
        assert_eq!(container_name("exec", None, 2), "exec-2");
        assert_eq!(
            container_name("My App", Some("a/b"), 1),
            "My-App-a-b-1".to_string()
        );
        assert_eq!(container_name("-x", Some("y"), 0), "c-x-y-0");
        let long = "a".repeat(300);
        let n = container_name(&long, None, 7);
        assert_eq!(n.len(), MAX_NAME);
        assert!(n.ends_with("-7"));
    }
}
