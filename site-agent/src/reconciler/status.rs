//! The status a `ProcessDeployment` blueprint gets (see `docs/contracts.md`).

use serde_json::{Value, json};

use super::runtime::is_alive;
use super::table::Instance;

/// Builds `{instances, runningInstances, totalInstances, observedGeneration, lastUpdated[, message]}`.
pub fn build(
    instances: &[Instance],
    replicas: u32,
    generation: i64,
    message: Option<&str>,
) -> Value {
    let now = maestro_common::time::rfc3339(maestro_common::time::now_millis());
    let mut sorted: Vec<&Instance> = instances.iter().collect();
    sorted.sort_by_key(|i| (i.index, i.pid));
    let mut running = 0u32;
    let list: Vec<Value> = sorted
        .iter()
        .map(|i| {
            let alive = is_alive(i);
            if alive {
                running += 1;
            }
            json!({
                "name": i.name(),
                "id": i.pid.to_string(),
                "type": "process",
                "state": if alive { "running" } else { "exited" },
                "generation": i.generation,
                "lastCheck": now,
            })
        })
        .collect();
    let mut status = json!({
        "instances": list,
        "runningInstances": running,
        "totalInstances": replicas,
        "observedGeneration": generation,
        "lastUpdated": now,
    });
    if let (Some(m), Some(obj)) = (message, status.as_object_mut()) {
        obj.insert("message".to_string(), Value::String(m.to_string()));
    }
    status
}
