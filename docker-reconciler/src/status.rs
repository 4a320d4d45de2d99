//! The status a blueprint gets after each convergence.

use serde_json::{Value, json};

use crate::runtime::ObservedContainer;
use crate::spec::DesiredContainer;

/// Current time as RFC 3339 (UTC, milliseconds).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Builds `{instances: [{name, id, type: "container", state, image, generation, lastCheck[,
/// ports]}], runningInstances, totalInstances, observedGeneration, lastUpdated[, message]}`.
///
/// `totalInstances` is the number of desired containers; `runningInstances` counts running
/// containers in a desired slot at the desired generation, so "converged" is
/// `runningInstances == totalInstances` with `observedGeneration == metadata.generation`.
pub fn build_status(
    desired: &[DesiredContainer],
    observed: &[ObservedContainer],
    generation: i64,
    message: Option<&str>,
) -> Value {
    let now = now_rfc3339();
    let mut sorted: Vec<&ObservedContainer> = observed.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut running = 0usize;
    let instances: Vec<Value> = sorted
        .iter()
        .map(|o| {
            let slot = desired.iter().find(|d| d.name == o.name);
            if o.state == crate::ContainerState::Running
                && slot.is_some_and(|d| o.generation() == Some(d.generation))
            {
                running += 1;
            }
            let mut v = json!({
                "name": o.name,
                "id": o.id,
                "type": "container",
                "state": o.state.as_str(),
                "image": o.image,
                "generation": o.generation(),
                "lastCheck": now,
            });
            if let (Some(d), Some(obj)) = (slot, v.as_object_mut())
                && !d.ports.is_empty()
            {
                obj.insert("ports".into(), Value::String(d.ports_label()));
            }
            v
        })
        .collect();
    let mut status = json!({
        "instances": instances,
        "runningInstances": running,
        "totalInstances": desired.len(),
        "observedGeneration": generation,
        "lastUpdated": now,
    });
    if let (Some(m), Some(obj)) = (message, status.as_object_mut()) {
        obj.insert("message".into(), Value::String(m.to_string()));
    }
    status
}
