//! Pure evaluation of a blueprint's status: ready/total instances and whether it converged.

use colony::model::Blueprint;
use serde_json::Value;

/// What a blueprint's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Instances running the colony generation.
    pub ready: u32,
    /// Desired instances.
    pub total: u32,
    /// The reconciler observed the colony generation, every instance runs it, and running ==
    /// total (the count the current spec asks for, as the reconciler reports it).
    pub converged: bool,
    /// The reconciler's message, if any.
    pub message: String,
}

fn as_u32(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// Assesses `bp` per `docs/contracts.md`. The same rules hold for every kind, whose reconciler
/// alone knows its spec: the status's `observedGeneration` and every listed instance's
/// `generation` equal `metadata.generation` (so `totalInstances` is what the current spec asks
/// for), and `runningInstances == totalInstances`.
pub fn assess(bp: &Blueprint) -> Assessment {
    let generation = bp.metadata.generation;
    let status = &bp.status;
    let observed_now = status.get("observedGeneration").and_then(Value::as_i64) == Some(generation);
    let replicas = as_u32(status.get("totalInstances")).unwrap_or(0);
    let message = status
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let gen_ok = |v: Option<&Value>| v.is_none_or(|g| g.as_i64() == Some(generation));
    let instances: Vec<&Value> = status
        .get("instances")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let current = |i: &Value| {
        i.get("state").and_then(Value::as_str) == Some("running") && gen_ok(i.get("generation"))
    };
    let ready = if status.get("instances").is_some() {
        u32::try_from(instances.iter().filter(|i| current(i)).count()).unwrap_or(u32::MAX)
    } else {
        as_u32(status.get("runningInstances")).unwrap_or(0)
    };
    let running = as_u32(status.get("runningInstances"));
    let total = as_u32(status.get("totalInstances"));
    let has_status = status.as_object().is_some_and(|m| !m.is_empty());
    let converged = has_status
        && observed_now
        && instances.iter().all(|i| current(i))
        && running == Some(replicas)
        && total == Some(replicas)
        && ready == replicas;
    Assessment {
        ready,
        total: replicas,
        converged,
        message,
    }
}

/// The part of a blueprint that, when it changes, is worth a status record: generations,
/// annotations and the status without its timestamps.
pub fn view_key(bp: &Blueprint) -> String {
    let key = serde_json::json!({
        "generation": bp.metadata.generation,
        "annotations": bp.metadata.annotations,
        "status": reconciler::without_times(&bp.status),
    });
    maestro_common::json::canonical(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bp(generation: i64, replicas: u32, status: Value) -> Blueprint {
        let mut b = Blueprint::new(
            "ProcessDeployment",
            "web",
            "s",
            json!({"command": "x", "replicas": replicas}),
        );
        b.metadata.generation = generation;
        b.status = status;
        b
    }

    fn inst(state: &str, generation: i64) -> Value {
        json!({"name": "web-0", "id": "1", "type": "process", "state": state, "generation": generation, "lastCheck": "t"})
    }

    #[test]
    fn converged_needs_all_current_and_counts() {
        let ok = bp(
            2,
            2,
            json!({"instances": [inst("running", 2), inst("running", 2)], "runningInstances": 2, "totalInstances": 2, "observedGeneration": 2}),
        );
        assert_eq!(
            assess(&ok),
            Assessment {
                ready: 2,
                total: 2,
                converged: true,
                message: String::new()
            }
        );
        let old = bp(
            2,
            2,
            json!({"instances": [inst("running", 1), inst("running", 2)], "runningInstances": 2, "totalInstances": 2, "observedGeneration": 2}),
        );
        assert!(!assess(&old).converged);
        assert_eq!(assess(&old).ready, 1);
        let short = bp(
            2,
            3,
            json!({"instances": [inst("running", 2), inst("running", 2)], "runningInstances": 2, "totalInstances": 3, "observedGeneration": 2}),
        );
        assert!(!assess(&short).converged);
        let exited = bp(
            1,
            1,
            json!({"instances": [inst("exited", 1)], "runningInstances": 0, "totalInstances": 1, "observedGeneration": 1}),
        );
        assert!(!assess(&exited).converged);
        assert!(!assess(&bp(1, 1, json!({}))).converged);
    }

    fn container(name: &str, state: &str, generation: i64) -> Value {
        json!({"name": name, "id": "c0ffee", "type": "container", "state": state,
               "image": "x", "generation": generation, "lastCheck": "t"})
    }

    /// Any kind: the agent reads only the status the kind's reconciler wrote.
    fn any(kind: &str, generation: i64, status: Value) -> Blueprint {
        let mut b = Blueprint::new(kind, "arrowhead", "s", json!({"opaque": true}));
        b.metadata.generation = generation;
        b.status = status;
        b
    }

    #[test]
    fn the_reconcilers_total_at_the_current_generation_decides() {
        let two = |g: i64| {
            json!({"instances": [container("arrowhead-db-0", "running", g), container("arrowhead-sr-0", "running", g)],
                   "runningInstances": 2, "totalInstances": 2, "observedGeneration": g, "lastUpdated": "t"})
        };
        let ok = any("DockerDeployment", 3, two(3));
        assert_eq!(
            assess(&ok),
            Assessment {
                ready: 2,
                total: 2,
                converged: true,
                message: String::new()
            }
        );
        // A newer blueprint generation than the status observed: its total is stale.
        assert!(!assess(&any("DockerDeployment", 4, two(3))).converged);
        // One container still starting.
        let starting = any(
            "SomeKind",
            3,
            json!({"instances": [container("arrowhead-db-0", "running", 3), container("arrowhead-sr-0", "created", 3)],
                   "runningInstances": 1, "totalInstances": 2, "observedGeneration": 3, "message": "starting"}),
        );
        let a = assess(&starting);
        assert_eq!(
            (a.ready, a.total, a.converged, a.message.as_str()),
            (1, 2, false, "starting")
        );
        // Without observedGeneration nothing counts as converged.
        let no_observed = any(
            "ConfigFile",
            3,
            json!({"instances": [container("a", "running", 3)], "runningInstances": 1, "totalInstances": 1}),
        );
        assert!(!assess(&no_observed).converged);
        // A reconciler that asks for nothing (zero replicas) is converged with nothing running.
        let zero = any(
            "ProcessDeployment",
            2,
            json!({"instances": [], "runningInstances": 0, "totalInstances": 0, "observedGeneration": 2}),
        );
        assert!(assess(&zero).converged);
    }

    #[test]
    fn view_ignores_timestamps() {
        let a = bp(
            1,
            1,
            json!({"instances": [inst("running", 1)], "lastUpdated": "a"}),
        );
        let mut b = bp(
            1,
            1,
            json!({"instances": [inst("running", 1)], "lastUpdated": "b"}),
        );
        b.status["instances"][0]["lastCheck"] = json!("other");
        assert_eq!(view_key(&a), view_key(&b));
        b.metadata.generation = 2;
        assert_ne!(view_key(&a), view_key(&b));
    }
}
